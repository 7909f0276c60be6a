//! The one door to a read that no row rule of the actor limits. A row a role
//! may see is read through the gateway (lists, by id, `node`, relations) or
//! through `Acting::load`/`Acting::named` (the rows a use case names, under
//! the scope of its action); a read filtered by the scope of an action the
//! caller chose is `authz::find_under`. Any other read of a table goes through
//! `Unscoped`, naming why it is safe; `tests/it/layering.rs` fails on a direct
//! `Entity::find` anywhere outside these doors and the seed. Kernel: the audit
//! trail, below authorization, reads through it too.

use sea_orm::{EntityTrait, PrimaryKeyTrait, Select};

/// Why a read is not limited by the actor's row rule.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unscoped {
    /// A row that hangs off a row the use case (or the relation) already reached
    /// under its scope — a child, a link row, the case of a meeting — read in the
    /// same transaction, or a subquery limited by such rows.
    Child,
    /// A rule of the domain over rows the actor may not see (double booking, a
    /// codice fiscale already registered, places taken, overlapping periods, work
    /// left without an owner): only a yes/no, a count or a refusal that names
    /// no row reaches the actor.
    Rule,
    /// Reference data of the territory (Ambiti, Comuni): public to every role.
    Reference,
    /// Authentication: the operator logging in, its own profiles and sessions,
    /// API keys, SAML requests; there is no principal to scope by yet.
    Login,
    /// Tooling on the command line: the system acts, there is no principal.
    System,
    /// The INPS feed (`inps`): its records name rows by INPS's own identifiers
    /// (protocols, codici fiscali, feed sequence numbers), and it is the only
    /// writer of households, members and applications; whoever sends it (the
    /// command line, an `inps_feed` key) reads nothing of what it finds.
    Feed,
    /// The audit trail's own bookkeeping (the owner of a row read).
    Audit,
}

impl Unscoped {
    /// Every row of `E`, for the reason `self`.
    pub fn find<E: EntityTrait>(self) -> Select<E> {
        E::find()
    }

    /// The row of `E` with primary key `id`, for the reason `self`.
    pub fn find_by_id<E: EntityTrait>(self, id: impl Into<<E::PrimaryKey as PrimaryKeyTrait>::ValueType>) -> Select<E> {
        E::find_by_id(id)
    }
}
