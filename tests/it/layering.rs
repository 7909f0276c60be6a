//! One direction of dependencies: no import cycle between the top-level modules
//! of the crate (each file or folder directly under `src/` is one module). The
//! `crate::` paths of every source file are read, `use crate::{a, b::c}` groups
//! included, comments left out; a cycle fails with the modules on it and, for
//! each arrow, a file that draws it.

use std::{
    collections::{BTreeMap, BTreeSet},
    fs,
    path::{Path, PathBuf},
};

fn rust_files(p: &Path, out: &mut Vec<PathBuf>) {
    if p.is_dir() {
        for e in fs::read_dir(p).unwrap() {
            rust_files(&e.unwrap().path(), out);
        }
    } else if p.extension().is_some_and(|e| e == "rs") {
        out.push(p.to_path_buf());
    }
}

/// The source without `//` comments (doc comments name modules in prose).
fn code(text: &str) -> String {
    text.lines().map(|l| l.find("//").map_or(l, |i| &l[..i])).collect::<Vec<_>>().join("\n")
}

fn ident_at(s: &str) -> Option<&str> {
    let end = s.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).unwrap_or(s.len());
    (end > 0).then(|| &s[..end])
}

/// Top-level modules named after `crate::` in `src`.
fn crate_paths(src: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut rest = src;
    while let Some(i) = rest.find("crate::") {
        rest = &rest[i + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            // A group: its items at depth 0, each up to its first `::`.
            let mut depth = 0;
            let mut item = String::new();
            for c in group.chars() {
                match c {
                    '{' => depth += 1,
                    '}' if depth == 0 => break,
                    '}' => depth -= 1,
                    ',' if depth == 0 => {
                        out.extend(ident_at(item.trim()).map(str::to_string));
                        item.clear();
                        continue;
                    }
                    _ => {}
                }
                item.push(c);
            }
            out.extend(ident_at(item.trim()).map(str::to_string));
        } else if let Some(id) = ident_at(rest) {
            out.insert(id.to_string());
        }
    }
    out
}

/// Module → (module it imports → a file that does).
fn graph() -> BTreeMap<String, BTreeMap<String, String>> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let modules: BTreeMap<String, PathBuf> = fs::read_dir(&src)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter_map(|p| {
            let name = p.file_stem()?.to_str()?.to_string();
            (p.is_dir() || p.extension().is_some_and(|e| e == "rs")).then_some((name, p))
        })
        .filter(|(n, _)| n != "lib" && n != "main")
        .collect();
    let mut g = BTreeMap::new();
    for (m, path) in &modules {
        let mut files = Vec::new();
        rust_files(path, &mut files);
        let mut edges: BTreeMap<String, String> = BTreeMap::new();
        for f in files {
            let text = code(&fs::read_to_string(&f).unwrap());
            for to in crate_paths(&text) {
                if to != *m && modules.contains_key(&to) {
                    edges.entry(to).or_insert_with(|| f.strip_prefix(&src).unwrap().display().to_string());
                }
            }
        }
        g.insert(m.clone(), edges);
    }
    g
}

/// The modules that reach `from` back, with one path of arrows.
fn cycle_through(g: &BTreeMap<String, BTreeMap<String, String>>, from: &str) -> Option<Vec<String>> {
    fn walk(
        g: &BTreeMap<String, BTreeMap<String, String>>,
        at: &str,
        target: &str,
        path: &mut Vec<String>,
        seen: &mut BTreeSet<String>,
    ) -> bool {
        for next in g[at].keys() {
            if next == target {
                return true;
            }
            if seen.insert(next.clone()) {
                path.push(next.clone());
                if walk(g, next, target, path, seen) {
                    return true;
                }
                path.pop();
            }
        }
        false
    }
    let mut path = vec![from.to_string()];
    walk(g, from, from, &mut path, &mut BTreeSet::new()).then_some(path)
}

#[test]
fn the_parser_reads_paths_and_groups() {
    let found = crate_paths(&code("use crate::{a::b, c, d::{e, f}};\nlet x = crate::g::h(); // crate::comment\n"));
    assert_eq!(found, ["a", "c", "d", "g"].iter().map(|s| s.to_string()).collect());
}

#[test]
fn no_import_cycle_between_top_level_modules() {
    let g = graph();
    assert!(g.len() > 20 && g["api"].contains_key("cases"), "the graph is read: {g:?}");
    let mut cycles = Vec::new();
    for m in g.keys() {
        if let Some(path) = cycle_through(&g, m) {
            let arrows: Vec<String> = path
                .iter()
                .zip(path.iter().skip(1).chain(std::iter::once(&path[0])))
                .map(|(a, b)| format!("{a} → {b} ({})", g[a][b]))
                .collect();
            cycles.push(arrows.join(", "));
        }
    }
    assert!(cycles.is_empty(), "import cycles between top-level modules:\n  {}", cycles.join("\n  "));
}

/// Direct reads of a table in `code`: `Entity::find()`, `find_by_id`, and the
/// related-row finders of sea-orm, each with its line.
fn direct_reads(code: &str) -> Vec<(usize, String)> {
    const CALLS: &[&str] =
        &["::find()", "::find_by_id(", ".find_related(", ".find_also_related(", ".find_with_related(", ".find_linked("];
    code.lines()
        .enumerate()
        .filter(|(_, l)| CALLS.iter().any(|c| l.contains(c)))
        .map(|(i, l)| (i + 1, l.trim().to_string()))
        .collect()
}

#[test]
fn the_read_finder_sees_direct_reads_only() {
    let src = "let a = case_file::Entity::find().one(db);\nlet b = Unscoped::Child.find::<member::Entity>();\nlet c = E::find_by_id(id);\n";
    let found: Vec<usize> = direct_reads(src).into_iter().map(|(l, _)| l).collect();
    assert_eq!(found, [1, 3]);
}

/// Every read of a table outside the authorization layer goes through a door
/// that applies a row rule (the gateway, `Acting::load`/`named`, `find_under`)
/// or names why none applies (`unscoped::Unscoped`). The doors live in
/// `src/authz/`, the use-case kernel `src/workflow.rs` and `src/unscoped.rs`;
/// the seed writes the demo data as the system.
#[test]
fn tables_are_read_only_through_the_doors() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&root, &mut files);
    let mut found = Vec::new();
    for f in &files {
        let rel = f.strip_prefix(&root).unwrap().to_string_lossy().replace('\\', "/");
        if rel.starts_with("authz/") || rel.starts_with("seed/") || rel == "workflow.rs" || rel == "unscoped.rs" {
            continue;
        }
        for (line, text) in direct_reads(&code(&fs::read_to_string(f).unwrap())) {
            found.push(format!("src/{rel}:{line}: {text}"));
        }
    }
    assert!(files.len() > 50, "the sources are read");
    assert!(
        found.is_empty(),
        "direct reads of a table (read through the gateway, Acting::load, find_under, or Unscoped::<why>):\n{}",
        found.join("\n")
    );
}
