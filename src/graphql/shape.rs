//! The shape GraphQL gives a response, which async-graphql's executor does not
//! keep: sibling fields in the order the operation selects them (the executor
//! inserts them as they complete), and a nullable field whose resolver failed
//! present, as null (the executor reports the error and leaves the field out).
//! A failed non-null field stays out: the null the specification propagates to
//! its parent is not done here. Walks the data once, beside the operation's
//! selections and the schema's field types.

use std::collections::HashSet;

use async_graphql::{
    parser::types::{ExecutableDocument, OperationDefinition, Selection, SelectionSet},
    PathSegment, ServerError, Value,
};

use crate::authz::strict::SchemaIndex;

/// The operation a request runs: the one `name` names, or the only one.
pub(crate) fn operation<'a>(doc: &'a ExecutableDocument, name: Option<&str>) -> Option<&'a OperationDefinition> {
    let mut ops = doc.operations.iter();
    match name {
        Some(n) => ops.find(|(op, _)| op.is_some_and(|o| o.as_str() == n)).map(|(_, op)| &op.node),
        None => match (ops.next(), ops.next()) {
            (Some((_, op)), None) => Some(&op.node),
            _ => None,
        },
    }
}

/// Puts `data` in selection order, with null for each nullable field that failed.
pub fn shape(
    index: &SchemaIndex,
    doc: &ExecutableDocument,
    operation_name: Option<&str>,
    data: &mut Value,
    errors: &[ServerError],
) {
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
    let shaper = Shaper { doc, index, failed };
    let root = index.root(op.ty);
    if *data == Value::Null {
        // Every root field failed, and the executor gave no data: nullable
        // roots answer null, unless a non-null one failed (then data is null).
        if shaper.failed.is_empty() {
            return;
        }
        let mut order = Vec::new();
        shaper.keys(&[&op.selection_set.node], None, &mut order, &mut Vec::new());
        let nullable = order.iter().all(|k| {
            !shaper.failed.contains(&vec![k.key.to_string()]) || index.field(root, k.field).is_some_and(|f| f.1)
        });
        if nullable {
            *data = Value::Object(Default::default());
            shaper.object(root, &order, data, &mut Vec::new());
            if matches!(data, Value::Object(m) if m.is_empty()) {
                *data = Value::Null;
            }
        }
        return;
    }
    shaper.walk(root, &[&op.selection_set.node], data, &mut Vec::new());
}

/// A response key, the field it answers, the type it is selected on (a
/// fragment's condition), and its merged sub-selections.
struct Key<'a> {
    key: &'a str,
    field: &'a str,
    on: Option<&'a str>,
    subs: Vec<&'a SelectionSet>,
}

struct Shaper<'a> {
    doc: &'a ExecutableDocument,
    index: &'a SchemaIndex,
    failed: HashSet<Vec<String>>,
}

impl<'a> Shaper<'a> {
    /// The response keys `sets` select, in order (fragments inlined).
    fn keys(&self, sets: &[&'a SelectionSet], on: Option<&'a str>, out: &mut Vec<Key<'a>>, seen: &mut Vec<&'a str>) {
        for set in sets {
            for item in &set.items {
                match &item.node {
                    Selection::Field(f) => {
                        let key = f.node.response_key().node.as_str();
                        let sub = &f.node.selection_set.node;
                        match out.iter_mut().find(|k| k.key == key) {
                            Some(k) => k.subs.push(sub),
                            None => out.push(Key { key, field: f.node.name.node.as_str(), on, subs: vec![sub] }),
                        }
                    }
                    Selection::InlineFragment(i) => {
                        let cond = i.node.type_condition.as_ref().map(|c| c.node.on.node.as_str()).or(on);
                        self.keys(&[&i.node.selection_set.node], cond, out, seen)
                    }
                    Selection::FragmentSpread(s) => {
                        let name = s.node.fragment_name.node.as_str();
                        if let (false, Some(f)) =
                            (seen.contains(&name), self.doc.fragments.get(&s.node.fragment_name.node))
                        {
                            seen.push(name);
                            self.keys(
                                &[&f.node.selection_set.node],
                                Some(f.node.type_condition.node.on.node.as_str()),
                                out,
                                seen,
                            );
                            seen.pop();
                        }
                    }
                }
            }
        }
    }

    fn walk(&self, ty: &str, sets: &[&'a SelectionSet], value: &mut Value, path: &mut Vec<String>) {
        match value {
            Value::Object(_) => {
                let mut order = Vec::new();
                self.keys(sets, None, &mut order, &mut Vec::new());
                self.object(ty, &order, value, path);
            }
            Value::List(items) => {
                // The selections are the same for every element: their keys once.
                let mut order = Vec::new();
                self.keys(sets, None, &mut order, &mut Vec::new());
                for (i, item) in items.iter_mut().enumerate() {
                    let tracked = !self.failed.is_empty();
                    if tracked {
                        path.push(i.to_string());
                    }
                    match item {
                        Value::List(_) => self.walk(ty, sets, item, path),
                        _ => self.object(ty, &order, item, path),
                    }
                    if tracked {
                        path.pop();
                    }
                }
            }
            _ => {}
        }
    }

    fn object(&self, ty: &str, order: &[Key<'a>], value: &mut Value, path: &mut Vec<String>) {
        let Value::Object(map) = value else { return };
        let mut old = std::mem::take(map);
        for k in order {
            let on = k.on.unwrap_or(ty);
            let field = self.index.field(on, k.field);
            let tracked = !self.failed.is_empty();
            if tracked {
                path.push(k.key.to_string());
            }
            if let Some((name, mut v)) = old.swap_remove_entry(k.key) {
                self.walk(field.map_or("", |f| f.0), &k.subs, &mut v, path);
                map.insert(name, v);
            } else if tracked && field.is_some_and(|f| f.1) && self.failed.contains(path) {
                map.insert(async_graphql::Name::new(k.key), Value::Null);
            }
            if tracked {
                path.pop();
            }
        }
        map.extend(old);
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
    fn fields_come_in_selection_order_and_a_failed_nullable_one_as_null() {
        let index = SchemaIndex::from_sdl(
            "type Query { x: Int z: Int b: [T!]! e: E g: Int! } type T { c: Int d: Int } type E { f: Int! }",
        );
        let doc = parse_query("{ a: x ...F b { ... on T { d c } } e { f } g } fragment F on Query { z }").unwrap();
        let mut data =
            Value::from_json(serde_json::json!({ "b": [{ "c": 1, "d": 2 }, { "c": 3, "d": 4 }], "z": 0, "a": 5 }))
                .unwrap();
        let err = |path: Vec<PathSegment>| {
            let mut e = ServerError::new("failed", None);
            e.path = path;
            e
        };
        // `e` (nullable) failed through its child; `g` (non-null) failed: it stays out.
        let errors = vec![
            err(vec![PathSegment::Field("e".into()), PathSegment::Field("f".into())]),
            err(vec![PathSegment::Field("g".into())]),
        ];
        shape(&index, &doc, None, &mut data, &errors);
        assert_eq!(json(&data), r#"{"a":5,"z":0,"b":[{"d":2,"c":1},{"d":4,"c":3}],"e":null}"#);
        // Every root failed: nullable ones answer null; a failed non-null one nulls the data.
        let doc = parse_query("{ a: x z }").unwrap();
        let mut data = Value::Null;
        shape(&index, &doc, None, &mut data, &[err(vec![PathSegment::Field("a".into())])]);
        assert_eq!(json(&data), r#"{"a":null}"#);
        let doc = parse_query("{ x g }").unwrap();
        let mut data = Value::Null;
        shape(
            &index,
            &doc,
            None,
            &mut data,
            &[err(vec![PathSegment::Field("x".into())]), err(vec![PathSegment::Field("g".into())])],
        );
        assert_eq!(json(&data), "null");
        let doc = parse_query("{ a: x ...F b { ... on T { d c } } e { f } g } fragment F on Query { z }").unwrap();
        // A field absent without an error (skipped, another type's) stays absent.
        let mut data = Value::from_json(serde_json::json!({ "b": [] })).unwrap();
        shape(&index, &doc, None, &mut data, &[]);
        assert_eq!(json(&data), r#"{"b":[]}"#);
    }
}
