//! The shape GraphQL gives a response, which async-graphql's executor does not
//! keep: sibling fields in the order the operation selects them (the executor
//! inserts them as they complete), and a field whose resolver failed present,
//! as null (the executor reports the error and leaves the field out). Walks the
//! data once, beside the operation's selections.

use std::collections::HashSet;

use async_graphql::{
    parser::types::{ExecutableDocument, OperationDefinition, Selection, SelectionSet},
    PathSegment, ServerError, Value,
};

/// The operation a request runs: the one `name` names, or the only one.
fn operation<'a>(doc: &'a ExecutableDocument, name: Option<&str>) -> Option<&'a OperationDefinition> {
    let mut ops = doc.operations.iter();
    match name {
        Some(n) => ops.find(|(op, _)| op.is_some_and(|o| o.as_str() == n)).map(|(_, op)| &op.node),
        None => match (ops.next(), ops.next()) {
            (Some((_, op)), None) => Some(&op.node),
            _ => None,
        },
    }
}

/// Puts `data` in selection order, with null for each field that failed.
pub fn shape(doc: &ExecutableDocument, operation_name: Option<&str>, data: &mut Value, errors: &[ServerError]) {
    let Some(op) = operation(doc, operation_name) else { return };
    // Every prefix of every error's path: a field left out that leads to an error failed.
    let mut failed = HashSet::new();
    for e in errors {
        let mut prefix = Vec::with_capacity(e.path.len());
        for seg in &e.path {
            prefix.push(match seg {
                PathSegment::Field(f) => f.clone(),
                PathSegment::Index(i) => i.to_string(),
            });
            failed.insert(prefix.clone());
        }
    }
    walk(doc, &[&op.selection_set.node], data, &mut Vec::new(), &failed);
}

/// The response keys `sets` select, in order, each with the sub-selections
/// merged under it (fragments inlined, whatever their type condition).
fn keys<'a>(
    doc: &'a ExecutableDocument,
    sets: &[&'a SelectionSet],
    out: &mut Vec<(&'a str, Vec<&'a SelectionSet>)>,
    seen: &mut Vec<&'a str>,
) {
    for set in sets {
        for item in &set.items {
            match &item.node {
                Selection::Field(f) => {
                    let key = f.node.response_key().node.as_str();
                    let sub = &f.node.selection_set.node;
                    match out.iter_mut().find(|(k, _)| *k == key) {
                        Some((_, subs)) => subs.push(sub),
                        None => out.push((key, vec![sub])),
                    }
                }
                Selection::InlineFragment(i) => keys(doc, &[&i.node.selection_set.node], out, seen),
                Selection::FragmentSpread(s) => {
                    let name = s.node.fragment_name.node.as_str();
                    if let (false, Some(f)) = (seen.contains(&name), doc.fragments.get(&s.node.fragment_name.node)) {
                        seen.push(name);
                        keys(doc, &[&f.node.selection_set.node], out, seen);
                        seen.pop();
                    }
                }
            }
        }
    }
}

fn walk(
    doc: &ExecutableDocument,
    sets: &[&SelectionSet],
    value: &mut Value,
    path: &mut Vec<String>,
    failed: &HashSet<Vec<String>>,
) {
    match value {
        Value::Object(map) => {
            let mut order = Vec::new();
            keys(doc, sets, &mut order, &mut Vec::new());
            let mut old = std::mem::take(map);
            for (key, subs) in order {
                path.push(key.to_string());
                if let Some((name, mut v)) = old.shift_remove_entry(key) {
                    walk(doc, &subs, &mut v, path, failed);
                    map.insert(name, v);
                } else if failed.contains(path) {
                    map.insert(async_graphql::Name::new(key), Value::Null);
                }
                path.pop();
            }
            map.extend(old);
        }
        Value::List(items) => {
            for (i, item) in items.iter_mut().enumerate() {
                path.push(i.to_string());
                walk(doc, sets, item, path, failed);
                path.pop();
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use async_graphql::parser::parse_query;

    fn json(v: &Value) -> String {
        serde_json::to_string(v).unwrap()
    }

    #[test]
    fn fields_come_in_selection_order_and_a_failed_one_as_null() {
        let doc = parse_query("{ a: x ...F b { ... on T { d c } } e { f } } fragment F on Query { z }").unwrap();
        let mut data =
            Value::from_json(serde_json::json!({ "b": [{ "c": 1, "d": 2 }, { "c": 3, "d": 4 }], "z": 0, "a": 5 }))
                .unwrap();
        let err = |path: Vec<PathSegment>| {
            let mut e = ServerError::new("failed", None);
            e.path = path;
            e
        };
        // `e` failed (its non-null child `f` nulled it).
        let errors = vec![err(vec![PathSegment::Field("e".into()), PathSegment::Field("f".into())])];
        shape(&doc, None, &mut data, &errors);
        assert_eq!(json(&data), r#"{"a":5,"z":0,"b":[{"d":2,"c":1},{"d":4,"c":3}],"e":null}"#);
        // A field absent without an error (skipped, another type's) stays absent.
        let mut data = Value::from_json(serde_json::json!({ "b": [] })).unwrap();
        shape(&doc, None, &mut data, &[]);
        assert_eq!(json(&data), r#"{"b":[]}"#);
    }
}
