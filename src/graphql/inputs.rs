//! The input values of an operation checked before anything of it runs, where
//! the executor's validation leaves a gap:
//!
//! - an `Int` out of 32-bit range: async-graphql's validation accepts any
//!   64-bit number and refuses it only while the field reads its argument, so
//!   the fields resolved before it (a mutation among them) would already have
//!   run;
//! - a required variable that was not sent: the executor notices it only
//!   while resolving the field that uses it;
//! - an argument that uses a variable which was not sent: the executor's
//!   validation skips the whole argument (its `Date`s, enums and `Int`s), so
//!   [`check`] first gives every such variable its default (or null, which is
//!   what the executor reads for it anyway).
//!
//! - a text with the character U+0000 (NUL): valid in GraphQL and JSON, but
//!   no text column of PostgreSQL can hold it, so the database would refuse
//!   the statement (an `INTERNAL` error for a client's input).
//!
//! All are the client's mistake: `VALIDATION` naming the input path
//! (`input.durationMinutes`, `input.slots[0].place`) or the variable, and
//! nothing runs. The
//! walk follows the types of the schema, so a large number given for an `ID`
//! is not mistaken for an `Int`.

use std::collections::HashSet;

use async_graphql::{
    parser::types::{BaseType, ExecutableDocument, Selection, SelectionSet, Type},
    Value, Variables,
};

use super::shape::operation;
use crate::{authz::strict::SchemaIndex, error::AppError};

/// Gives every variable of the operation `operation_name` of `doc` that was
/// not sent its default value, or null (what the executor reads for it while
/// resolving, now seen by the validation too, which skips an argument whose
/// variable is absent); then the refusal of the operation, if one of its input
/// values is out of its type's range or a required variable is missing. None
/// when the operation is not found (the executor reports that).
pub fn check(
    index: &SchemaIndex,
    doc: &ExecutableDocument,
    operation_name: Option<&str>,
    variables: &mut Variables,
) -> Option<AppError> {
    let op = operation(doc, operation_name)?;
    for def in &op.variable_definitions {
        let d = &def.node;
        if variables.get(&d.name.node).is_none() {
            if let Some(v) = d.default_value() {
                variables.insert(d.name.node.clone(), v.clone());
            }
        }
    }
    for def in &op.variable_definitions {
        let d = &def.node;
        if d.var_type.node.nullable || d.default_value.is_some() {
            continue;
        }
        match variables.get(&d.name.node) {
            None => return Some(AppError::validation(d.name.node.to_string(), "a required variable was not sent")),
            Some(Value::Null) => return Some(AppError::validation(d.name.node.to_string(), "must not be null")),
            Some(_) => {}
        }
    }
    let walk = Walk { index, doc, variables };
    let mut seen = HashSet::new();
    walk.selection(&op.selection_set.node, index.root(op.ty), &mut seen).map(|(path, bad)| match bad {
        Bad::Int => AppError::validation(path, format!("an Int is a whole number from {} to {}", i32::MIN, i32::MAX)),
        Bad::Nul => AppError::validation(path, "a text may not contain the character U+0000"),
    })
}

/// What is wrong with an input value.
enum Bad {
    /// An `Int` out of 32-bit range.
    Int,
    /// A text with U+0000.
    Nul,
}

struct Walk<'a> {
    index: &'a SchemaIndex,
    doc: &'a ExecutableDocument,
    /// As sent, with the defaults of those that were not.
    variables: &'a Variables,
}

impl<'a> Walk<'a> {
    /// The path of the first bad value in the arguments of `set`'s fields (on
    /// `parent`), fragments followed once each.
    fn selection(&self, set: &'a SelectionSet, parent: &str, seen: &mut HashSet<&'a str>) -> Option<(String, Bad)> {
        for item in &set.items {
            let found = match &item.node {
                Selection::Field(f) => {
                    let f = &f.node;
                    let name = f.name.node.as_str();
                    let from_args = f.arguments.iter().find_map(|(arg, value)| {
                        let ty = self.index.argument(parent, name, arg.node.as_str())?;
                        let value =
                            value.node.clone().into_const_with(|v| self.variables.get(&v).cloned().ok_or(())).ok()?;
                        self.value(&value, ty, arg.node.to_string())
                    });
                    from_args.or_else(|| {
                        let (child, _) = self.index.field(parent, name)?;
                        self.selection(&f.selection_set.node, child, seen)
                    })
                }
                Selection::InlineFragment(i) => {
                    let on = i.node.type_condition.as_ref().map_or(parent, |c| c.node.on.node.as_str());
                    self.selection(&i.node.selection_set.node, on, seen)
                }
                Selection::FragmentSpread(s) => {
                    let name = s.node.fragment_name.node.as_str();
                    let fragment = self.doc.fragments.get(&s.node.fragment_name.node)?;
                    if !seen.insert(name) {
                        continue;
                    }
                    let on = fragment.node.type_condition.node.on.node.as_str();
                    self.selection(&fragment.node.selection_set.node, on, seen)
                }
            };
            if found.is_some() {
                return found;
            }
        }
        None
    }

    /// The path of the first bad value in `value`, of type `ty`.
    fn value(&self, value: &Value, ty: &Type, path: String) -> Option<(String, Bad)> {
        match (&ty.base, value) {
            (_, Value::Null) => None,
            (BaseType::List(inner), Value::List(items)) => {
                items.iter().enumerate().find_map(|(i, x)| self.value(x, inner, format!("{path}[{i}]")))
            }
            // A single value where a list is expected is a list of one.
            (BaseType::List(inner), _) => self.value(value, inner, path),
            (BaseType::Named(n), Value::Number(x)) if n.as_str() == "Int" => {
                x.as_i64().is_none_or(|x| i32::try_from(x).is_err()).then_some((path, Bad::Int))
            }
            // Any text: a String, an ID, a Date, an enum's name.
            (_, Value::String(t)) if t.contains('\0') => Some((path, Bad::Nul)),
            (_, Value::Enum(t)) if t.as_str().contains('\0') => Some((path, Bad::Nul)),
            (BaseType::Named(n), Value::Object(fields)) => fields.iter().find_map(|(k, x)| {
                let ty = self.index.input_field(n.as_str(), k.as_str())??;
                self.value(x, ty, format!("{path}.{k}"))
            }),
            _ => None,
        }
    }
}
