//! The policies of aggregates (`policies/stats.csv`): which measures and
//! dimensions exist (the closed vocabulary of [`Measure`] and [`Dimension`]),
//! how protected each is, the threshold *k* of each class, and which role may
//! count what, under which scope and method.
//!
//! A role answered `exact` sees counts of the rows it reads anyway: its grant's
//! scope must be its read scope of the measure's type, and every dimension it
//! may use must show a field it reads on every row (otherwise grouping by it
//! would reveal that field). Start-up fails on anything else.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use entity::enums::Role;

use super::{
    policy::Policy,
    vocab::{parse_role, Class, Dimension, Measure, Method, Object, Scope},
    FieldScope,
};

/// The file, embedded like the other policies.
pub const STATS_FILE: (&str, &str) = ("stats.csv", include_str!("../../policies/stats.csv"));

impl Measure {
    /// The governed type whose rows the measure counts: its row rule applies.
    pub fn object(self) -> Object {
        match self {
            Measure::Households => Object::Household,
            Measure::Cases => Object::Case,
            Measure::Members => Object::Member,
            Measure::Meetings => Object::Meeting,
            Measure::PucAssignments => Object::PucAssignment,
            Measure::ResidencyChecks => Object::ResidencyCheck,
            Measure::Reports => Object::Report,
            Measure::DisadvantageChecks => Object::DisadvantageCheck,
        }
    }

    /// Whether the measure has a month (of its event): households their
    /// composition, cases their PAD, meetings their date, residency checks
    /// their due date, segnalazioni their raising, validation requests their
    /// receipt. Members and PUC assignments have none.
    pub fn has_time(self) -> bool {
        !matches!(self, Measure::Members | Measure::PucAssignments)
    }

    /// The dimensions of the measure itself (besides territory and time).
    pub fn own_dimensions(self) -> &'static [Dimension] {
        use Dimension::*;
        match self {
            Measure::Households => &[SizeBand],
            Measure::Cases => &[CaseState, Pathway, SizeBand, Deadline],
            Measure::Members => &[AgeBand],
            Measure::Meetings => &[MeetingKind, MeetingState],
            Measure::PucAssignments => &[PucSource, PucState],
            Measure::ResidencyChecks => &[ResidencyKind, ResidencyState, ResidencyOutcome],
            Measure::Reports => &[ReportKind, ReportState],
            Measure::DisadvantageChecks => &[DisadvantageCategory, DisadvantageState],
        }
    }

    /// Every dimension the measure can be grouped or filtered by.
    pub fn dimensions(self) -> Vec<Dimension> {
        let mut out = vec![Dimension::Regione, Dimension::Ambito, Dimension::Comune];
        if self.has_time() {
            out.extend([Dimension::Year, Dimension::Quarter, Dimension::Month]);
        }
        out.extend_from_slice(self.own_dimensions());
        out
    }

    /// The field (`Type.field`) a dimension of this measure shows of each unit:
    /// a role answered exactly must read it on every row.
    pub fn field_of(self, d: Dimension) -> Option<&'static str> {
        use Dimension::*;
        if !self.dimensions().contains(&d) {
            return None;
        }
        let (territory, time) = (d.is_territory(), d.is_time());
        Some(match self {
            Measure::Households if territory => "Household.comune",
            Measure::Households if time => "Household.compositionDate",
            Measure::Households => "Household.members",
            Measure::Cases if territory => "Case.comune",
            Measure::Cases if time => "Case.padDate",
            Measure::Cases if d == CaseState => "Case.state",
            Measure::Cases if d == Pathway => "Case.pathwayType",
            Measure::Cases if d == Deadline => "Case.overdue",
            Measure::Cases => "Case.household",
            Measure::Members if territory => "Member.household",
            Measure::Members => "Member.birthDate",
            Measure::Meetings if territory => "Meeting.comune",
            Measure::Meetings if time => "Meeting.scheduledAt",
            Measure::Meetings if d == MeetingKind => "Meeting.kind",
            Measure::Meetings => "Meeting.state",
            Measure::PucAssignments if territory => "PucAssignment.project",
            Measure::PucAssignments if d == PucSource => "PucAssignment.source",
            Measure::PucAssignments => "PucAssignment.state",
            Measure::ResidencyChecks if territory => "ResidencyCheck.currentComune",
            Measure::ResidencyChecks if time => "ResidencyCheck.dueOn",
            Measure::ResidencyChecks if d == ResidencyKind => "ResidencyCheck.kind",
            Measure::ResidencyChecks if d == ResidencyState => "ResidencyCheck.state",
            Measure::ResidencyChecks => "ResidencyCheck.outcome",
            Measure::Reports if territory => "Report.comune",
            Measure::Reports if time => "Report.createdAt",
            Measure::Reports if d == ReportKind => "Report.kind",
            Measure::Reports => "Report.state",
            Measure::DisadvantageChecks if territory => "DisadvantageCheck.certifyingComune",
            Measure::DisadvantageChecks if time => "DisadvantageCheck.receivedOn",
            Measure::DisadvantageChecks if d == DisadvantageCategory => "DisadvantageCheck.category",
            Measure::DisadvantageChecks => "DisadvantageCheck.state",
        })
    }
}

impl Dimension {
    /// Year, quarter or month of the measure's event.
    pub fn is_time(self) -> bool {
        matches!(self, Dimension::Year | Dimension::Quarter | Dimension::Month)
    }

    /// Regione, Ambito or Comune.
    pub fn is_territory(self) -> bool {
        matches!(self, Dimension::Regione | Dimension::Ambito | Dimension::Comune)
    }

    /// A dimension of the day's work rather than of the units (the deadlines,
    /// which move every day): exact counts only. Protected tables count the
    /// same finest cells every day, so that a cell keeps its noise.
    pub fn is_operational(self) -> bool {
        matches!(self, Dimension::Deadline)
    }
}

/// What a role may count of one measure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StatsGrant {
    pub scope: Scope,
    pub method: Method,
}

/// The compiled `policies/stats.csv`.
#[derive(Debug, Clone, Default)]
pub struct StatsPolicy {
    measure_class: BTreeMap<Measure, Class>,
    dimension_class: BTreeMap<Dimension, Class>,
    threshold: BTreeMap<Class, u32>,
    grants: HashMap<(Role, Measure), StatsGrant>,
    uses: HashMap<Role, BTreeSet<Dimension>>,
    exports: BTreeSet<(Role, Measure)>,
}

impl StatsPolicy {
    pub fn grant(&self, role: Role, m: Measure) -> Option<StatsGrant> {
        self.grants.get(&(role, m)).copied()
    }

    /// Whether the role may count anything at all (the `stats` root exists for it).
    pub fn any_grant(&self, role: Role) -> bool {
        self.grants.keys().any(|(r, _)| *r == role)
    }

    /// The measures the role may count.
    pub fn measures(&self, role: Role) -> Vec<Measure> {
        Measure::ALL.iter().copied().filter(|m| self.grants.contains_key(&(role, *m))).collect()
    }

    /// Whether the role may export the tables of a measure as CSV (`exportStats`).
    pub fn may_export(&self, role: Role, m: Measure) -> bool {
        self.exports.contains(&(role, m))
    }

    pub fn may_use(&self, role: Role, d: Dimension) -> bool {
        self.uses.get(&role).is_some_and(|s| s.contains(&d))
    }

    pub fn dimension_class(&self, d: Dimension) -> Class {
        self.dimension_class.get(&d).copied().unwrap_or(Class::Special)
    }

    pub fn measure_class(&self, m: Measure) -> Class {
        self.measure_class.get(&m).copied().unwrap_or(Class::Special)
    }

    /// The threshold *k* of a class: a protected cell of fewer units is not shown.
    pub fn threshold(&self, c: Class) -> u32 {
        self.threshold.get(&c).copied().unwrap_or(u32::MAX)
    }

    /// Parses and checks `text` against the compiled type and field policies.
    pub fn parse(file: &str, text: &str, policy: &Policy) -> Result<StatsPolicy, Vec<String>> {
        let mut errors = Vec::new();
        let mut p = StatsPolicy::default();
        for (i, raw) in text.lines().enumerate() {
            let t = raw.trim();
            if t.is_empty() || t.starts_with('#') {
                continue;
            }
            let at = format!("policies/{file}:{}", i + 1);
            if let Err(e) = p.line(t) {
                errors.push(format!("{at}: {e}"));
            }
        }
        for m in Measure::ALL {
            if !p.measure_class.contains_key(m) {
                errors.push(format!("policies/{file}: the measure `{m}` is not classified"));
            }
        }
        for d in Dimension::ALL {
            if !p.dimension_class.contains_key(d) {
                errors.push(format!("policies/{file}: the dimension `{d}` is not classified"));
            }
        }
        for c in Class::ALL {
            if !p.threshold.contains_key(c) {
                errors.push(format!("policies/{file}: no threshold for the class `{c}`"));
            }
        }
        let mut thresholds: Vec<(Class, u32)> = p.threshold.iter().map(|(c, k)| (*c, *k)).collect();
        thresholds.sort();
        if thresholds.windows(2).any(|w| w[0].1 > w[1].1) {
            errors.push(format!("policies/{file}: a more protected class needs a threshold at least as high"));
        }
        for (role, m) in &p.exports {
            if !p.grants.contains_key(&(*role, *m)) {
                errors.push(format!("policies/{file}: `{}` may export `{m}`, which it may not count", role.as_str()));
            }
        }
        for ((role, m), g) in &p.grants {
            if g.method != Method::Exact {
                for d in p.uses.get(role).into_iter().flatten().filter(|d| d.is_operational()) {
                    if m.dimensions().contains(d) {
                        errors.push(format!(
                            "policies/{file}: `{}` counts `{m}` perturbed, and `{d}` is counted exactly only",
                            role.as_str()
                        ));
                    }
                }
                continue;
            }
            // Exact counts only of what the role reads row by row.
            let read = policy.grant(*role, m.object(), super::Action::Read);
            if read != Some(g.scope) {
                errors.push(format!(
                    "policies/{file}: `{}` counts `{m}` exactly under `{}` but reads {} under {}",
                    role.as_str(),
                    g.scope,
                    m.object(),
                    read.map(|s| s.to_string()).unwrap_or_else(|| "no scope".into())
                ));
            }
            for d in p.uses.get(role).into_iter().flatten() {
                let Some(key) = m.field_of(*d) else { continue };
                let readable = policy.field(*role, key).and_then(|f| f.scope) == Some(FieldScope::Any);
                if !readable {
                    errors.push(format!(
                        "policies/{file}: `{}` counts `{m}` exactly by `{d}`, which shows `{key}`, a field it does not read on every row",
                        role.as_str()
                    ));
                }
            }
        }
        if errors.is_empty() {
            Ok(p)
        } else {
            Err(errors)
        }
    }

    fn line(&mut self, t: &str) -> Result<(), String> {
        let cols: Vec<&str> = t.split(',').map(str::trim).collect();
        match (cols[0], cols.len()) {
            ("measure", 3) => {
                let m: Measure = cols[1].parse()?;
                if self.measure_class.insert(m, cols[2].parse()?).is_some() {
                    return Err(format!("the measure `{m}` is classified twice"));
                }
            }
            ("dimension", 3) => {
                let d: Dimension = cols[1].parse()?;
                if self.dimension_class.insert(d, cols[2].parse()?).is_some() {
                    return Err(format!("the dimension `{d}` is classified twice"));
                }
            }
            ("threshold", 3) => {
                let c: Class = cols[1].parse()?;
                let k: u32 = cols[2].parse().map_err(|_| format!("`{}` is not a threshold", cols[2]))?;
                if k < 3 {
                    return Err("a threshold below 3 is under the minimum of the statistical code of conduct".into());
                }
                if self.threshold.insert(c, k).is_some() {
                    return Err(format!("the class `{c}` has two thresholds"));
                }
            }
            ("grant", 5) => {
                let role = parse_role(cols[1])?;
                let m: Measure = cols[2].parse()?;
                let scope: Scope = cols[3].parse()?;
                let method: Method = cols[4].parse()?;
                if method == Method::CellKey && !matches!(scope, Scope::Ambito | Scope::National) {
                    return Err(format!("perturbed counts are granted under `ambito` or `national`, not `{scope}`"));
                }
                if self.grants.insert((role, m), StatsGrant { scope, method }).is_some() {
                    return Err(format!("`{}` is granted `{m}` twice", role.as_str()));
                }
            }
            ("export", 3) => {
                let role = parse_role(cols[1])?;
                let m: Measure = cols[2].parse()?;
                if !self.exports.insert((role, m)) {
                    return Err(format!("`{}` may export `{m}` twice", role.as_str()));
                }
            }
            ("use", 3) => {
                let role = parse_role(cols[1])?;
                let d: Dimension = cols[2].parse()?;
                if !self.uses.entry(role).or_default().insert(d) {
                    return Err(format!("`{}` is granted `{d}` twice", role.as_str()));
                }
            }
            _ => {
                return Err("expected `measure, m, class`, `dimension, d, class`, `threshold, class, k`, \
                            `grant, role, measure, scope, method`, `use, role, dimension` or `export, role, measure`"
                    .into())
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn policy() -> Policy {
        Policy::load(include_str!("../../schema.graphql"), super::super::keys::OWN_ROW_TYPES).await.expect("policies")
    }

    fn with(extra: &str) -> String {
        format!("{}\n{extra}\n", STATS_FILE.1)
    }

    #[tokio::test]
    async fn the_embedded_policies_load_and_grant_what_they_say() {
        let p = policy().await;
        let s = &p.stats;
        assert_eq!(
            s.grant(Role::Analyst, Measure::Cases),
            Some(StatsGrant { scope: Scope::National, method: Method::CellKey })
        );
        assert_eq!(s.grant(Role::PaisCoordinator, Measure::Cases).map(|g| g.method), Some(Method::Exact));
        assert_eq!(s.grant(Role::MeetingRegistrar, Measure::Cases), None);
        assert_eq!(s.threshold(s.dimension_class(Dimension::DisadvantageCategory)), 10);
        assert_eq!(s.threshold(Class::Public), 3);
        assert!(s.may_use(Role::Analyst, Dimension::AgeBand));
        assert!(!s.may_use(Role::PaisCoordinator, Dimension::Pathway));
    }

    #[tokio::test]
    async fn unknown_tokens_and_widening_grants_fail_to_load() {
        let p = policy().await;
        let bad = [
            ("grant, analyst, salaries, national, cell_key", "unknown measure `salaries`"),
            ("use, analyst, religion", "unknown dimension `religion`"),
            ("grant, astrologer, cases, national, cell_key", "unknown role `astrologer`"),
            ("grant, meeting_registrar, cases, national, exact", "reads Case under comune"),
            ("grant, puc_manager, cases, ambito, exact", "reads Case under no scope"),
            ("grant, meeting_registrar, cases, comune, cell_key", "under `ambito` or `national`"),
            ("grant, analyst, cases, national, cell_key", "granted `cases` twice"),
            ("threshold, public, 2", "below 3"),
            ("export, puc_manager, cases", "which it may not count"),
            ("dimension, comune, public", "classified twice"),
            ("grant, pais_coordinator, households, ambito, exact", "reads Household"),
            ("use, analyst, deadline", "`deadline` is counted exactly only"),
        ];
        for (line, why) in bad {
            let err = StatsPolicy::parse("stats.csv", &with(line), &p).unwrap_err().join("\n");
            assert!(err.contains(why), "{line}: {err}");
        }
        // An exact role may not group by a field it does not read on every row.
        let err =
            StatsPolicy::parse("stats.csv", &with("use, pais_coordinator, size_band"), &p).unwrap_err().join("\n");
        assert!(err.contains("Case.household"), "{err}");
        // Nor may a more protected class have a lower threshold.
        let text = STATS_FILE.1.replace("threshold, special, 10", "threshold, special, 4");
        let err = StatsPolicy::parse("stats.csv", &text, &p).unwrap_err().join("\n");
        assert!(err.contains("at least as high"), "{err}");
        // Every measure and dimension is classified.
        let text = STATS_FILE.1.replace("dimension, age_band, personal\n", "");
        let err = StatsPolicy::parse("stats.csv", &text, &p).unwrap_err().join("\n");
        assert!(err.contains("`age_band` is not classified"), "{err}");
    }

    #[test]
    fn every_dimension_of_a_measure_shows_a_field() {
        for m in Measure::ALL {
            for d in m.dimensions() {
                assert!(m.field_of(d).is_some(), "{m} by {d}");
            }
            for d in Dimension::ALL {
                if !m.dimensions().contains(d) {
                    assert!(m.field_of(*d).is_none());
                }
            }
        }
    }
}
