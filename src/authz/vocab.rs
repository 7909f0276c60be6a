//! The closed vocabulary policy files may use. A token that is not here fails
//! start-up (and the tests): a policy line can never silently match nothing.

use std::{fmt, str::FromStr};

use entity::enums::Role;
use sea_orm::{ActiveEnum, Iterable};

macro_rules! vocabulary {
    ($(#[$m:meta])* $name:ident { $($(#[$vm:meta])* $v:ident = $s:literal),+ $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum $name { $($(#[$vm])* $v),+ }
        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$v),+];
            pub fn as_str(self) -> &'static str {
                match self { $($name::$v => $s),+ }
            }
        }
        impl FromStr for $name {
            type Err = String;
            fn from_str(s: &str) -> Result<Self, String> {
                match s {
                    $($s => Ok($name::$v),)+
                    other => Err(format!(
                        "unknown {} `{other}` (known: {})",
                        stringify!($name).to_lowercase(),
                        [$($s),+].join(", ")
                    )),
                }
            }
        }
        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result { f.write_str(self.as_str()) }
        }
    };
}

vocabulary!(
    /// The types of the graph whose rows authorization governs.
    Object {
        Ambito = "Ambito",
        Comune = "Comune",
        Convention = "Convention",
        Operator = "Operator",
        Profile = "Profile",
        Household = "Household",
        Member = "Member",
        Application = "Application",
        Case = "Case",
        CaseTransfer = "CaseTransfer",
        CaseReferral = "CaseReferral",
        PreliminaryAnalysis = "PreliminaryAnalysis",
        AnalysisFramework = "AnalysisFramework",
        AnalysisTeamMember = "AnalysisTeamMember",
        Pact = "Pact",
        PactObjective = "PactObjective",
        PactExpectedResult = "PactExpectedResult",
        PactCommitment = "PactCommitment",
        Support = "Support",
        Report = "Report",
        Meeting = "Meeting",
        OfficeSlot = "OfficeSlot",
        PucProject = "PucProject",
        PucAssignment = "PucAssignment",
        PucAttendance = "PucAttendance",
        ResidencyCheck = "ResidencyCheck",
        ResidencyPeriod = "ResidencyPeriod",
        DisadvantageCheck = "DisadvantageCheck",
        AuditEvent = "AuditEvent",
        PartnerEvent = "PartnerEvent",
    }
);

vocabulary!(
    /// What a role does to an object.
    Action {
        /// See rows and fields.
        Read = "read",
        /// Create new rows (a segnalazione, a support...).
        Create = "create",
        /// Change rows and move them through their state machine.
        Update = "update",
        /// Assign rows to an operator (cases to case managers).
        Assign = "assign",
        /// Approve or reject what others raised (segnalazioni).
        Approve = "approve",
    }
);

vocabulary!(
    /// Which rows: assigned to the principal, of their Comuni, of their Ambito, all;
    /// or the cases of their Ambito not yet assigned to a case manager (and what
    /// hangs off them: household, members, analysis, supports), the window in
    /// which the Referente per l'attivazione dei sostegni works.
    Scope { Own = "own", Comune = "comune", Ambito = "ambito", National = "national", Unassigned = "unassigned" }
);

vocabulary!(
    /// Where a readable field is shown: on every row the role can see, or only on
    /// the rows that are the principal's own.
    FieldScope { Any = "any", Own = "own" }
);

vocabulary!(
    /// Data-protection class of a field (`policies/fields.csv`).
    Class { Public = "public", Personal = "personal", Sensitive = "sensitive", Special = "special" }
);

vocabulary!(
    /// Effect of a policy line.
    Effect { Allow = "allow", Deny = "deny" }
);

/// Every role a policy may name (profiles and API clients).
pub fn all_roles() -> Vec<Role> {
    Role::iter().collect()
}

pub fn parse_role(s: &str) -> Result<Role, String> {
    Role::try_from_value(&s.to_string()).map_err(|_| {
        format!(
            "unknown role `{s}` (known: {})",
            all_roles().iter().map(|r| r.to_value()).collect::<Vec<_>>().join(", ")
        )
    })
}

vocabulary!(
    /// What an aggregate counts (`policies/stats.csv`): the units of a table.
    Measure {
        Households = "households",
        Cases = "cases",
        Members = "members",
        Meetings = "meetings",
        PucAssignments = "puc_assignments",
        ResidencyChecks = "residency_checks",
        Reports = "reports",
        DisadvantageChecks = "disadvantage_checks",
    }
);

vocabulary!(
    /// What an aggregate groups and filters by (`policies/stats.csv`). The
    /// territory and time dimensions apply to every measure that has them;
    /// the others to one measure each.
    Dimension {
        Regione = "regione",
        Ambito = "ambito",
        Comune = "comune",
        Year = "year",
        Quarter = "quarter",
        Month = "month",
        CaseState = "case_state",
        Pathway = "pathway",
        SizeBand = "size_band",
        Deadline = "deadline",
        AgeBand = "age_band",
        MeetingKind = "meeting_kind",
        MeetingState = "meeting_state",
        PucSource = "puc_source",
        PucState = "puc_state",
        ResidencyKind = "residency_kind",
        ResidencyState = "residency_state",
        ResidencyOutcome = "residency_outcome",
        ReportKind = "report_kind",
        ReportState = "report_state",
        DisadvantageCategory = "disadvantage_category",
        DisadvantageState = "disadvantage_state",
    }
);

vocabulary!(
    /// How a role's aggregates are answered: `exact` counts within the rows the
    /// role reads anyway (its read scope of the measure's type), or `cell_key`
    /// (perturbed, with primary and secondary suppression) under the grant's scope.
    Method { Exact = "exact", CellKey = "cell_key" }
);
