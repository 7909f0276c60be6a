//! Strict clients (`X-Gepi-Strict: true`, typically integration partners) get an
//! operation that selects a field their role may never read refused whole, before
//! it runs: a strict mutation is not executed and then withheld. Fields readable
//! only on some rows are checked after execution, from the redactions.

use std::collections::HashMap;

use async_graphql::parser::types::{
    BaseType, DocumentOperations, ExecutableDocument, Selection, SelectionSet, Type, TypeKind, TypeSystemDefinition,
};

use super::RequestAuthz;

/// Output fields of every object and interface type, with the named type each
/// returns; the arguments of each field and the fields of each input type, with
/// their types.
#[derive(Debug, Default)]
pub struct SchemaIndex {
    /// `type → field →` the named type it returns (lists unwrapped), and whether it may be null.
    fields: HashMap<String, HashMap<String, (String, bool)>>,
    /// `type → field → argument →` its type.
    args: HashMap<String, HashMap<String, HashMap<String, Type>>>,
    /// `input type → field →` its type.
    inputs: HashMap<String, HashMap<String, Type>>,
    roots: (String, String),
}

impl SchemaIndex {
    pub fn from_sdl(sdl: &str) -> Self {
        let mut fields: HashMap<String, HashMap<String, (String, bool)>> = HashMap::new();
        let mut args: HashMap<String, HashMap<String, HashMap<String, Type>>> = HashMap::new();
        let mut inputs: HashMap<String, HashMap<String, Type>> = HashMap::new();
        if let Ok(doc) = async_graphql::parser::parse_schema(sdl) {
            for d in doc.definitions {
                if let TypeSystemDefinition::Type(t) = d {
                    let list = match &t.node.kind {
                        TypeKind::Object(o) => &o.fields,
                        TypeKind::Interface(i) => &i.fields,
                        TypeKind::InputObject(i) => {
                            let m = i.fields.iter().map(|f| (f.node.name.node.to_string(), f.node.ty.node.clone()));
                            inputs.insert(t.node.name.node.to_string(), m.collect());
                            continue;
                        }
                        _ => continue,
                    };
                    let mut m = HashMap::new();
                    let mut a = HashMap::new();
                    for f in list {
                        let of_field =
                            f.node.arguments.iter().map(|x| (x.node.name.node.to_string(), x.node.ty.node.clone()));
                        a.insert(f.node.name.node.to_string(), of_field.collect());
                        let mut ty = &f.node.ty.node;
                        let name = loop {
                            match &ty.base {
                                BaseType::Named(n) => break n.to_string(),
                                BaseType::List(inner) => ty = inner,
                            }
                        };
                        m.insert(f.node.name.node.to_string(), (name, f.node.ty.node.nullable));
                    }
                    fields.insert(t.node.name.node.to_string(), m);
                    args.insert(t.node.name.node.to_string(), a);
                }
            }
        }
        SchemaIndex { fields, args, inputs, roots: ("Query".into(), "Mutation".into()) }
    }

    /// The type of the argument `arg` of `ty.field`.
    pub fn argument(&self, ty: &str, field: &str, arg: &str) -> Option<&Type> {
        self.args.get(ty)?.get(field)?.get(arg)
    }

    /// The type of the field `field` of the input type `input`; None when
    /// `input` is not an input type.
    pub fn input_field(&self, input: &str, field: &str) -> Option<Option<&Type>> {
        self.inputs.get(input).map(|m| m.get(field))
    }

    /// The root type of an operation.
    pub fn root(&self, ty: async_graphql::parser::types::OperationType) -> &str {
        match ty {
            async_graphql::parser::types::OperationType::Mutation => &self.roots.1,
            _ => &self.roots.0,
        }
    }

    /// The named type `ty.field` returns (lists unwrapped), and whether the field may be null.
    pub fn field(&self, ty: &str, field: &str) -> Option<(&str, bool)> {
        let (next, nullable) = self.fields.get(ty)?.get(field)?;
        Some((next.as_str(), *nullable))
    }

    /// Fields of `doc` that the role may read on no row, as `Type.field`.
    pub fn never_readable(&self, doc: &ExecutableDocument, authz: &RequestAuthz) -> Vec<String> {
        let mut out = Vec::new();
        let ops: Vec<_> = match &doc.operations {
            DocumentOperations::Single(op) => vec![op],
            DocumentOperations::Multiple(m) => m.values().collect(),
        };
        for op in ops {
            self.walk(doc, self.root(op.node.ty), &op.node.selection_set.node, authz, &mut out, 0);
        }
        out.sort();
        out.dedup();
        out
    }

    fn walk(
        &self,
        doc: &ExecutableDocument,
        ty: &str,
        set: &SelectionSet,
        authz: &RequestAuthz,
        out: &mut Vec<String>,
        depth: usize,
    ) {
        if depth > 32 {
            return;
        }
        for sel in &set.items {
            match &sel.node {
                Selection::Field(f) => {
                    let name = f.node.name.node.as_str();
                    if name.starts_with("__") {
                        continue;
                    }
                    let key = format!("{ty}.{name}");
                    if authz.field_scope_named(&key).is_none() {
                        out.push(key);
                        continue;
                    }
                    if let Some((next, _)) = self.field(ty, name) {
                        self.walk(doc, next, &f.node.selection_set.node, authz, out, depth + 1);
                    }
                }
                Selection::InlineFragment(frag) => {
                    let t = frag
                        .node
                        .type_condition
                        .as_ref()
                        .map(|c| c.node.on.node.to_string())
                        .unwrap_or_else(|| ty.to_string());
                    self.walk(doc, &t, &frag.node.selection_set.node, authz, out, depth + 1);
                }
                Selection::FragmentSpread(spread) => {
                    if let Some(frag) = doc.fragments.get(&spread.node.fragment_name.node) {
                        let t = frag.node.type_condition.node.on.node.to_string();
                        self.walk(doc, &t, &frag.node.selection_set.node, authz, out, depth + 1);
                    }
                }
            }
        }
    }
}
