//! What a compiled read (see `api::compiled`) needs from the kit: the values of
//! fields as the executor renders them ([`Out`]), and the reading context of one
//! request ([`ReadCtx`]): its authorization state and the path of the field being
//! read, so that the field guard, the relation guard and the audit trail of reads
//! behave exactly as they do for the resolvers.

use std::cell::RefCell;

use async_graphql::{Name, ScalarType, Value, ID};

use super::scalars::{Date, Timestamp};

use crate::{
    authz::{FieldKey, Object, RequestAuthz},
    graphql::{
        guard::show_in,
        relations::{is_me_in, may_follow_in},
    },
};

/// A field's value as the executor puts it in `data`.
pub trait Out {
    fn out(self) -> Value;
}

impl Out for String {
    fn out(self) -> Value {
        Value::String(self)
    }
}

impl Out for ID {
    fn out(self) -> Value {
        Value::String(self.0)
    }
}

macro_rules! out_from {
    ($($t:ty),+) => {
        $(impl Out for $t {
            fn out(self) -> Value {
                Value::from(self)
            }
        })+
    };
}

out_from!(bool, i32, i64, u64);

impl Out for Date {
    fn out(self) -> Value {
        ScalarType::to_value(&self)
    }
}

impl Out for Timestamp {
    fn out(self) -> Value {
        ScalarType::to_value(&self)
    }
}

impl<T: Out> Out for Option<T> {
    fn out(self) -> Value {
        self.map_or(Value::Null, Out::out)
    }
}

impl<T: Out> Out for Vec<T> {
    fn out(self) -> Value {
        Value::List(self.into_iter().map(Out::out).collect())
    }
}

/// One step of the path of a field in the response.
#[derive(Debug, Clone)]
pub enum Step {
    Key(Name),
    Index(usize),
}

/// The reading context of a compiled read: the request's authorization state and
/// the path of the field being read (the response keys and list indices the
/// executor's path would have), for redactions.
pub struct ReadCtx<'a> {
    pub authz: &'a RequestAuthz,
    path: RefCell<Vec<Step>>,
}

impl<'a> ReadCtx<'a> {
    pub fn new(authz: &'a RequestAuthz) -> Self {
        ReadCtx { authz, path: RefCell::new(Vec::with_capacity(16)) }
    }

    pub fn push(&self, step: Step) {
        self.path.borrow_mut().push(step);
    }

    pub fn pop(&self) {
        self.path.borrow_mut().pop();
    }

    /// The path as the executor writes it (`to_string_vec`).
    pub fn path(&self) -> Vec<String> {
        self.path
            .borrow()
            .iter()
            .map(|s| match s {
                Step::Key(k) => k.to_string(),
                Step::Index(i) => i.to_string(),
            })
            .collect()
    }

    /// The field guard ([`crate::graphql::guard::show`]) at the current path.
    pub fn show<T>(&self, key: FieldKey, own_row: bool, value: impl FnOnce() -> T) -> Option<T> {
        show_in(self.authz, || self.path(), key, own_row, value)
    }

    /// Whether the relation `key` to rows of `target` may be followed
    /// ([`crate::graphql::relations::may_follow`]) at the current path.
    pub fn may_follow(&self, key: FieldKey, own_row: bool, target: Object) -> bool {
        may_follow_in(self.authz, || self.path(), key, own_row, target)
    }

    /// Whether `id` is the principal's operator id.
    pub fn is_me(&self, id: impl Into<Option<uuid::Uuid>>) -> bool {
        is_me_in(self.authz, id)
    }
}
