//! Reads of case content, for the audit trail. A governed row whose sensitive or
//! special fields a response carries (and a case whose detail it carries) is
//! recorded where the field is projected, once per row per request, with the
//! classes read; the rows are written in one batch before the response leaves,
//! and a failure to write them fails the response (no trace, no data).
//!
//! A row names what owns it ([`Owner`]); the Ambito and the case of the entry
//! are resolved from it in at most one statement per kind of owner.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use entity::{case_file, enums::AuditAction, household, pact, puc_assignment, puc_project};
use sea_orm::{ColumnTrait, ConnectionTrait, QueryFilter};
use serde_json::json;
use uuid::Uuid;

use super::{AuditContext, AuditEntry};
use crate::error::AppError;
use crate::unscoped::Unscoped;

/// What a row hangs off, to find the Ambito (and the case) its read belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Owner {
    /// A row that carries its Ambito (and, when it has one, its case).
    Ambito { ambito: Option<Uuid>, case: Option<Uuid> },
    /// A document of a case (analysis, framework, pact, support).
    Case(Uuid),
    /// A member or an application of a household.
    Household(Uuid),
    /// A part of a pact version (objective, expected result, commitment).
    Pact(Uuid),
    /// A PUC assignment: its project (and its case, when it came from one).
    Project { project: Uuid, case: Option<Uuid> },
    /// A day of a PUC attendance register.
    Assignment(Uuid),
}

/// One row read in a request.
#[derive(Debug, Clone)]
pub struct Read {
    pub owner: Owner,
    /// The data-protection classes read (`personal`, `sensitive`, `special`...).
    pub classes: BTreeSet<&'static str>,
}

/// The reads of a request, keyed by (table, row id).
pub type Reads = BTreeMap<(&'static str, Uuid), Read>;

/// Where a read belongs: Ambito, case, household.
#[derive(Debug, Default, Clone, Copy)]
struct Place {
    ambito: Option<Uuid>,
    case: Option<Uuid>,
    household: Option<Uuid>,
}

/// Writes one `read` event per row of `reads`.
pub async fn record<C: ConnectionTrait>(db: &C, ctx: &AuditContext, reads: Reads) -> Result<(), AppError> {
    if reads.is_empty() {
        return Ok(());
    }
    let places = resolve(db, &reads).await?;
    let entries = reads
        .into_iter()
        .map(|((entity, id), read)| {
            let place = places.get(&read.owner).copied().unwrap_or_default();
            let mut e = AuditEntry::new(entity, id, AuditAction::Read);
            e.ambito_id = place.ambito;
            let mut changes = json!({ "classes": read.classes.iter().collect::<Vec<_>>() });
            if let Some(c) = place.case.filter(|c| !(entity == "case_file" && *c == id)) {
                changes["case_id"] = json!(c);
            }
            if let Some(h) = place.household {
                changes["household_id"] = json!(h);
            }
            e.changes = Some(changes);
            e
        })
        .collect();
    super::record(db, ctx, entries).await
}

fn unique<T: Ord + Copy>(it: impl Iterator<Item = T>) -> Vec<T> {
    it.collect::<BTreeSet<_>>().into_iter().collect()
}

/// The place of every owner, one statement per kind that needs a lookup.
async fn resolve<C: ConnectionTrait>(db: &C, reads: &Reads) -> Result<HashMap<Owner, Place>, AppError> {
    let owners: BTreeSet<Owner> = reads.values().map(|r| r.owner).collect();
    let pick = |f: fn(Owner) -> Option<Uuid>| unique(owners.iter().filter_map(|o| f(*o)));
    let pacts = pick(|o| if let Owner::Pact(p) = o { Some(p) } else { None });
    let assignments = pick(|o| if let Owner::Assignment(a) = o { Some(a) } else { None });
    let households = pick(|o| if let Owner::Household(h) = o { Some(h) } else { None });
    // Parents first: pact → case; attendance → assignment → project.
    let pact_case: HashMap<Uuid, Uuid> = if pacts.is_empty() {
        HashMap::new()
    } else {
        Unscoped::Audit
            .find::<pact::Entity>()
            .filter(pact::Column::Id.is_in(pacts))
            .all(db)
            .await?
            .into_iter()
            .map(|p| (p.id, p.case_id))
            .collect()
    };
    let assignment_of: HashMap<Uuid, (Uuid, Option<Uuid>)> = if assignments.is_empty() {
        HashMap::new()
    } else {
        Unscoped::Audit
            .find::<puc_assignment::Entity>()
            .filter(puc_assignment::Column::Id.is_in(assignments))
            .all(db)
            .await?
            .into_iter()
            .map(|a| (a.id, (a.project_id, a.case_id)))
            .collect()
    };
    let case_of = |o: Owner| -> Option<Uuid> {
        match o {
            Owner::Case(c) => Some(c),
            Owner::Pact(p) => pact_case.get(&p).copied(),
            Owner::Ambito { case, .. } | Owner::Project { case, .. } => case,
            Owner::Assignment(a) => assignment_of.get(&a).and_then(|x| x.1),
            Owner::Household(_) => None,
        }
    };
    let project_of = |o: Owner| -> Option<Uuid> {
        match o {
            Owner::Project { project, .. } => Some(project),
            Owner::Assignment(a) => assignment_of.get(&a).map(|x| x.0),
            _ => None,
        }
    };
    // The Ambito of a case read in the same request is the one its own read
    // carries (the case row's `ambito_id`, which the lookup below would read).
    let mut case_ambito: HashMap<Uuid, Uuid> = reads
        .iter()
        .filter_map(|((entity, id), r)| match r.owner {
            Owner::Ambito { ambito: Some(a), case: Some(c) } if *entity == "case_file" && c == *id => Some((c, a)),
            _ => None,
        })
        .collect();
    // Ambiti: of the other cases whose owner does not carry it, of the projects,
    // of the households.
    let cases = unique(
        owners
            .iter()
            .filter(|o| !matches!(o, Owner::Ambito { .. }))
            .filter_map(|o| case_of(*o))
            .filter(|c| !case_ambito.contains_key(c)),
    );
    let projects = unique(owners.iter().filter_map(|o| project_of(*o)));
    if !cases.is_empty() {
        case_ambito.extend(
            Unscoped::Audit
                .find::<case_file::Entity>()
                .filter(case_file::Column::Id.is_in(cases))
                .all(db)
                .await?
                .into_iter()
                .map(|c| (c.id, c.ambito_id)),
        );
    }
    let project_ambito: HashMap<Uuid, Uuid> = if projects.is_empty() {
        HashMap::new()
    } else {
        Unscoped::Audit
            .find::<puc_project::Entity>()
            .filter(puc_project::Column::Id.is_in(projects))
            .all(db)
            .await?
            .into_iter()
            .map(|p| (p.id, p.ambito_id))
            .collect()
    };
    let household_ambito: HashMap<Uuid, Uuid> = if households.is_empty() {
        HashMap::new()
    } else {
        Unscoped::Audit
            .find::<household::Entity>()
            .filter(household::Column::Id.is_in(households))
            .all(db)
            .await?
            .into_iter()
            .map(|h| (h.id, h.ambito_id))
            .collect()
    };
    let mut out = HashMap::new();
    for o in owners {
        let case = case_of(o);
        let ambito = match o {
            Owner::Ambito { ambito, .. } => ambito,
            Owner::Household(h) => household_ambito.get(&h).copied(),
            Owner::Project { .. } | Owner::Assignment(_) => project_of(o).and_then(|p| project_ambito.get(&p).copied()),
            _ => case.and_then(|c| case_ambito.get(&c).copied()),
        };
        let household = if let Owner::Household(h) = o { Some(h) } else { None };
        out.insert(o, Place { ambito, case, household });
    }
    Ok(out)
}
