//! The stored code of a vocabulary value (`DA_ASSEGNARE`, `SOTTOSCRITTO`...), as
//! error messages name states and kinds.

pub fn code<T: sea_orm::ActiveEnum<Value = String>>(v: T) -> String {
    v.to_value()
}
