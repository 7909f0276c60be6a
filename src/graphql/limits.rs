//! Bounds on what one operation may cost, checked before it runs (tokens,
//! aliases, directives, depth; complexity in the executor) and after (the
//! size of the response). Every refusal is `LIMIT`, naming the limit and the
//! value; an unknown directive is a validation error, as the GraphQL
//! specification makes it.

use std::sync::Arc;

use async_graphql::{
    extensions::{Extension, ExtensionContext, ExtensionFactory, NextValidation},
    parser::{
        parse_query,
        types::{Directive, ExecutableDocument, Selection, SelectionSet},
        Positioned,
    },
    ErrorExtensions, ServerError, ValidationResult,
};

use crate::{
    authz::gateway::DEFAULT_PAGE,
    error::AppError,
    ratelimit::{QuotaRefusal, QuotaState, Quotas},
};

/// Lexical tokens an operation document may have (punctuators, names, values;
/// whitespace, commas and comments are not tokens). The largest operation the
/// web client sends has under 600; GraphiQL's introspection query about 300.
pub const MAX_TOKENS: usize = 3_000;
/// Aliased fields an operation document may have.
pub const MAX_ALIASES: usize = 30;
/// Field selections an operation may have once its fragments are expanded
/// (each spread counts the fields it brings, every time): a few hundred tokens
/// of nested spreads would otherwise expand to billions of fields, which the
/// executor walks before any other limit applies.
pub const MAX_SELECTIONS: usize = 5_000;
/// Weight of a nested list (a relation to many rows, which has no page size):
/// the cost of its row times this.
pub const NESTED_LIST_WEIGHT: usize = 5;
/// Directives one field (or fragment) may carry.
pub const MAX_DIRECTIVES_PER_FIELD: usize = 3;
/// The directives an operation may use: the executable ones the schema defines.
pub const EXECUTABLE_DIRECTIVES: &[&str] = &["skip", "include"];
/// The largest page any role may ask for (the complexity of a list is weighed
/// by its page size, capped here; the resolver refuses a larger `first`).
const LARGEST_PAGE: usize = 500;

/// Largest nesting of selections a query may have (introspection aside).
pub const MAX_DEPTH: usize = 10;
/// Largest nesting under `__schema` and `__type`. The standard introspection
/// query every GraphQL tool sends (graphql-js 16's `getIntrospectionQuery`)
/// nests 15 levels (a field's argument's type, nine `ofType` deep);
/// introspection reads the role's schema in memory, never a row, so it has its
/// own bound.
pub const MAX_INTROSPECTION_DEPTH: usize = 16;
/// Lists nested under an introspection root (`types { fields { args } }` is
/// three, the most the standard query nests): each multiplies the answer by the
/// size of the schema, and the executor weighs introspection fields one each.
pub const MAX_INTROSPECTION_LISTS: usize = 3;
/// The introspection fields that answer lists.
const INTROSPECTION_LISTS: &[&str] =
    &["types", "fields", "args", "inputFields", "interfaces", "possibleTypes", "enumValues", "directives"];
/// Largest complexity a query may have: every selected field counts one, and a
/// paginated list counts its page size (`first`, default 20) times the cost of a
/// row ([`page_cost`]), so the limit bounds the rows an operation reads.
pub const MAX_COMPLEXITY: usize = 10_000;

/// Complexity, checked after validation computed it: `LIMIT`, with the limit
/// and the value in the message (the executor's own limit says neither). Depth
/// is checked before, by [`check`], which tells introspection from data.
pub struct Bounds;

impl ExtensionFactory for Bounds {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(Bounds)
    }
}

#[async_graphql::async_trait::async_trait]
impl Extension for Bounds {
    async fn validation(
        &self,
        ctx: &ExtensionContext<'_>,
        next: NextValidation<'_>,
    ) -> Result<ValidationResult, Vec<ServerError>> {
        let r = next.run(ctx).await?;
        let refuse =
            |m: String| Err(vec![AppError::Limit(m).extend().into_server_error(async_graphql::Pos::default())]);
        if r.complexity > MAX_COMPLEXITY {
            return refuse(format!(
                "the operation's complexity is {}, over the limit of {MAX_COMPLEXITY} (a list weighs its page size, `first`, times the fields of a row)",
                r.complexity
            ));
        }
        if let Some(m) = ctx.data_opt::<Arc<Metered>>() {
            m.complexity.store(r.complexity, std::sync::atomic::Ordering::Relaxed);
            if let Err(e) = m.charge(r.complexity) {
                return Err(vec![e.extend().into_server_error(async_graphql::Pos::default())]);
            }
        }
        Ok(r)
    }
}

/// The cost of the operation a request runs (its complexity, once validation
/// computed it) and the quota of the API client that pays for it, charged
/// once, before the operation runs: by [`Bounds`] when the executor validates
/// it, or by `/graphql` before a compiled read (which reuses the cost the
/// executor computed for the same document, role and variables).
#[derive(Default)]
pub struct Metered {
    /// The complexity validation computed (0: not computed).
    pub complexity: std::sync::atomic::AtomicUsize,
    quota: Option<QuotaPayer>,
    /// How the charge went: what the `RateLimit` headers and a 429 say.
    outcome: std::sync::Mutex<Option<Result<QuotaState, QuotaRefusal>>>,
}

struct QuotaPayer {
    quotas: Arc<Quotas>,
    client: uuid::Uuid,
    per_hour: u32,
}

impl Metered {
    /// Metering for an API client with `per_hour` points an hour.
    pub fn for_client(quotas: Arc<Quotas>, client: uuid::Uuid, per_hour: u32) -> Self {
        Metered { quota: Some(QuotaPayer { quotas, client, per_hour }), ..Default::default() }
    }

    /// Charges `cost` to the client's quota, if any: `LIMIT` when the quota
    /// cannot take it (the outcome says how long to wait).
    pub fn charge(&self, cost: usize) -> Result<(), AppError> {
        let Some(q) = &self.quota else { return Ok(()) };
        let mut last = self.outcome.lock().expect("quota outcome lock");
        // Once per request: a compiled read that falls back to the executor
        // was paid for already.
        if matches!(*last, Some(Ok(_))) {
            return Ok(());
        }
        let outcome = q.quotas.charge(q.client, q.per_hour, cost);
        *last = Some(outcome);
        drop(last);
        match outcome {
            Ok(_) => Ok(()),
            Err(QuotaRefusal::Spent { state, cost, retry_after_secs }) => Err(AppError::Limit(format!(
                "the hourly quota of this API key is spent for now: the operation costs {cost} points, {} of {} are left; retry in {retry_after_secs} s",
                state.remaining, state.per_hour
            ))),
            Err(QuotaRefusal::OverQuota { per_hour, cost }) => Err(AppError::Limit(format!(
                "the operation costs {cost} points, more than this API key's whole hourly quota of {per_hour}: ask for fewer rows (`first`) or fewer fields"
            ))),
        }
    }

    /// Whether an API client's quota pays for the operation.
    pub fn has_quota(&self) -> bool {
        self.quota.is_some()
    }

    /// How the last charge went (None: nothing was charged).
    pub fn outcome(&self) -> Option<Result<QuotaState, QuotaRefusal>> {
        *self.outcome.lock().expect("quota outcome lock")
    }
}

/// Complexity of the calendar (up to 92 days of one Comune or operator, not
/// paginated): weighed as a page of 100 rows.
pub fn calendar_cost(child_complexity: usize) -> usize {
    page_cost(Some(100), child_complexity)
}

/// Complexity of a nested list (a relation to many rows).
pub fn nested_cost(child_complexity: usize) -> usize {
    NESTED_LIST_WEIGHT.saturating_mul(child_complexity).saturating_add(1)
}

/// Complexity of a paginated list: its page size times the cost of one row,
/// so that the complexity limit bounds the rows an operation may read.
pub fn page_cost(first: Option<i32>, child_complexity: usize) -> usize {
    let rows = first.map_or(DEFAULT_PAGE as usize, |n| n.clamp(1, LARGEST_PAGE as i32) as usize);
    rows.saturating_mul(child_complexity).saturating_add(1)
}

/// Documents that passed [`check`], by their SHA-256: a client sends the same few
/// operations over and over, and each is parsed and walked once. A document's
/// hash names it exactly (no collision is known for SHA-256), so a document
/// never passes on another's check. Refusals are not kept.
pub struct CheckedDocuments(quick_cache::sync::Cache<[u8; 32], Arc<Checked>>);

/// A document that passed [`check`]: its operations by name (`None`: an
/// anonymous one) and its syntax tree; neither for a document that does not
/// parse (the executor reports the syntax error).
#[derive(Debug, Default)]
pub struct Checked {
    pub operations: Vec<Option<String>>,
    pub document: Option<ExecutableDocument>,
    /// The (role, shape of the variables) pairs for which the executor
    /// validated the document (see [`Checked::validated_for`]).
    validated: std::sync::Mutex<Vec<u64>>,
    /// The operation's complexity the executor computed, by role, shape and
    /// numbers of the variables (a page size weighs in): what an API client's
    /// compiled read is charged (see [`Checked::cost_for`]).
    costs: std::sync::Mutex<Vec<(u64, usize)>>,
}

/// Validations of one document remembered: a client sends a few shapes of
/// variables per operation.
const VALIDATIONS_KEPT: usize = 64;

impl Checked {
    /// The role and the shape of the variables: their names, and at every depth
    /// the kind of each value, the keys of each object (an input object's
    /// fields) and each list's items; with `numbers`, numbers with their value
    /// too (a page size, `first`, weighs in the operation's complexity).
    /// Validation reads variables only so far (a field the input type lacks is
    /// refused); the values themselves are parsed again by whoever reads them.
    fn validation_key(
        role: entity::enums::Role,
        operation: Option<&str>,
        variables: &async_graphql::Variables,
        numbers: bool,
    ) -> u64 {
        use std::hash::{Hash, Hasher};
        fn shape(v: &async_graphql::Value, h: &mut impl Hasher, numbers: bool) {
            use async_graphql::Value as V;
            match v {
                V::Null => 0u8.hash(h),
                V::Number(n) => {
                    (if n.is_i64() || n.is_u64() { 1u8 } else { 2 }).hash(h);
                    if numbers {
                        n.to_string().hash(h);
                    }
                }
                V::String(_) => 3u8.hash(h),
                V::Boolean(_) => 4u8.hash(h),
                V::Binary(_) => 5u8.hash(h),
                V::Enum(_) => 6u8.hash(h),
                V::List(items) => {
                    7u8.hash(h);
                    items.len().hash(h);
                    for i in items {
                        shape(i, h, numbers);
                    }
                }
                V::Object(map) => {
                    8u8.hash(h);
                    let mut keys: Vec<_> = map.iter().collect();
                    keys.sort_by(|a, b| a.0.cmp(b.0));
                    keys.len().hash(h);
                    for (k, v) in keys {
                        k.as_str().hash(h);
                        shape(v, h, numbers);
                    }
                }
            }
        }
        // Keyed once per process: a client cannot compute keys offline to look
        // for another shape with the same key.
        static KEYS: std::sync::OnceLock<std::collections::hash_map::RandomState> = std::sync::OnceLock::new();
        let mut h = std::hash::BuildHasher::build_hasher(KEYS.get_or_init(Default::default));
        role.hash(&mut h);
        operation.hash(&mut h);
        let mut names: Vec<_> = variables.iter().collect();
        names.sort_by(|a, b| a.0.cmp(b.0));
        for (k, v) in names {
            k.as_str().hash(&mut h);
            shape(v, &mut h, numbers);
        }
        numbers.hash(&mut h);
        h.finish()
    }

    /// Whether the executor validated the document for `role`, the operation
    /// `operation` and variables of this shape (the schema is per role;
    /// validation reads the variables of the operation run, as far as their
    /// shape): what the compiled reads (`api::compiled`) require before they
    /// answer.
    pub fn validated_for(
        &self,
        role: entity::enums::Role,
        operation: Option<&str>,
        variables: &async_graphql::Variables,
    ) -> bool {
        let key = Self::validation_key(role, operation, variables, false);
        self.validated.lock().expect("validations lock").contains(&key)
    }

    /// The operation's complexity, when the executor computed it for these
    /// variables (their numbers included).
    pub fn cost_for(
        &self,
        role: entity::enums::Role,
        operation: Option<&str>,
        variables: &async_graphql::Variables,
    ) -> Option<usize> {
        let key = Self::validation_key(role, operation, variables, true);
        self.costs.lock().expect("costs lock").iter().find(|(k, _)| *k == key).map(|(_, c)| *c)
    }

    /// The executor validated the document for `role` with these variables,
    /// and computed this complexity.
    pub fn mark_validated(
        &self,
        role: entity::enums::Role,
        operation: Option<&str>,
        variables: &async_graphql::Variables,
        complexity: usize,
    ) {
        let cost_key = Self::validation_key(role, operation, variables, true);
        let mut c = self.costs.lock().expect("costs lock");
        if !c.iter().any(|(k, _)| *k == cost_key) {
            if c.len() >= VALIDATIONS_KEPT {
                c.remove(0);
            }
            c.push((cost_key, complexity));
        }
        drop(c);
        let key = Self::validation_key(role, operation, variables, false);
        let mut v = self.validated.lock().expect("validations lock");
        if !v.contains(&key) {
            // The oldest gives way: a client sending many shapes of a document
            // cannot keep it from being compiled for the others.
            if v.len() >= VALIDATIONS_KEPT {
                v.remove(0);
            }
            v.push(key);
        }
    }
}

/// Documents kept.
const CHECKED_DOCUMENTS: usize = 2_000;
/// The largest document kept (its syntax tree is kept with it): the standard
/// introspection query is about 2 KB, a client's largest operation less; a
/// larger one is checked again each time, and the cache stays within a few
/// tens of MiB.
const CACHED_DOCUMENT_BYTES: usize = 8 * 1024;

impl Default for CheckedDocuments {
    fn default() -> Self {
        CheckedDocuments(quick_cache::sync::Cache::new(CHECKED_DOCUMENTS))
    }
}

impl CheckedDocuments {
    /// [`check`], once per distinct document.
    pub fn check(&self, query: &str) -> Result<Arc<Checked>, AppError> {
        use sha2::{Digest, Sha256};
        let key: [u8; 32] = Sha256::digest(query.as_bytes()).into();
        if let Some(ops) = self.0.get(&key) {
            return Ok(ops);
        }
        let checked = Arc::new(check(query)?);
        if query.len() <= CACHED_DOCUMENT_BYTES {
            self.0.insert(key, checked.clone());
        }
        Ok(checked)
    }
}

/// Checks an operation document before anything parses or runs it in full;
/// gives the names of its operations.
pub fn check(query: &str) -> Result<Checked, AppError> {
    let tokens = count_tokens(query, MAX_TOKENS + 1);
    if tokens > MAX_TOKENS {
        return Err(AppError::Limit(format!("the operation has more than {MAX_TOKENS} tokens (the limit)")));
    }
    // An unparseable document is the executor's to report (a syntax error).
    let Ok(doc) = parse_query(query) else { return Ok(Checked::default()) };
    let mut walk = Walk::default();
    walk.document(&doc);
    if let Some(e) = walk.error {
        return Err(e);
    }
    let selections = expanded(&doc);
    if selections > MAX_SELECTIONS {
        return Err(AppError::Limit(format!(
            "the operation selects {selections} fields once its fragments are expanded, over the limit of {MAX_SELECTIONS}"
        )));
    }
    if walk.aliases > MAX_ALIASES {
        return Err(AppError::Limit(format!(
            "the operation has {} aliases, over the limit of {MAX_ALIASES}",
            walk.aliases
        )));
    }
    let depth = depths(&doc);
    if depth.data > MAX_DEPTH {
        return Err(AppError::Limit(format!(
            "the operation nests {} levels, over the depth limit of {MAX_DEPTH}",
            depth.data
        )));
    }
    if depth.introspection > MAX_INTROSPECTION_DEPTH {
        return Err(AppError::Limit(format!(
            "the introspection nests {} levels, over the limit of {MAX_INTROSPECTION_DEPTH}",
            depth.introspection
        )));
    }
    if depth.introspection_lists > MAX_INTROSPECTION_LISTS {
        return Err(AppError::Limit(format!(
            "the introspection nests {} lists, over the limit of {MAX_INTROSPECTION_LISTS}",
            depth.introspection_lists
        )));
    }
    let operations = doc.operations.iter().map(|(name, _)| name.map(|n| n.to_string())).collect();
    Ok(Checked { operations, document: Some(doc), ..Checked::default() })
}

/// The deepest nesting of fields of the operations, fragments inlined (as the
/// executor counts it): under the introspection roots and elsewhere.
#[derive(Debug, Default, PartialEq, Eq)]
struct Depths {
    data: usize,
    introspection: usize,
    /// Introspection lists nested in one another (`INTROSPECTION_LISTS`).
    introspection_lists: usize,
}

/// Root fields that read the schema rather than data.
const INTROSPECTION_ROOTS: &[&str] = &["__schema", "__type"];

fn depths(doc: &ExecutableDocument) -> Depths {
    use std::collections::HashMap;
    /// Nesting of `s`, fragments inlined, memoised per fragment; a spread of a
    /// fragment being expanded (a cycle, refused by validation) counts nothing.
    fn nesting<'a>(
        s: &'a SelectionSet,
        doc: &'a ExecutableDocument,
        memo: &mut HashMap<&'a str, (usize, usize)>,
        stack: &mut Vec<&'a str>,
    ) -> (usize, usize) {
        let max = |a: (usize, usize), b: (usize, usize)| (a.0.max(b.0), a.1.max(b.1));
        s.items.iter().fold((0, 0), |d, item| {
            max(
                d,
                match &item.node {
                    Selection::Field(f) => {
                        let (depth, lists) = nesting(&f.node.selection_set.node, doc, memo, stack);
                        (1 + depth, lists + usize::from(INTROSPECTION_LISTS.contains(&f.node.name.node.as_str())))
                    }
                    Selection::InlineFragment(i) => nesting(&i.node.selection_set.node, doc, memo, stack),
                    Selection::FragmentSpread(sp) => {
                        fragment(sp.node.fragment_name.node.as_str(), doc, stack, (0, 0), |f, stack| {
                            if let Some(n) = memo.get(f) {
                                return *n;
                            }
                            let frag = &doc.fragments[&sp.node.fragment_name.node];
                            let n = nesting(&frag.node.selection_set.node, doc, memo, stack);
                            memo.insert(f, n);
                            n
                        })
                    }
                },
            )
        })
    }
    /// `visit` of fragment `name` unless it is unknown or being expanded.
    fn fragment<'a, T>(
        name: &'a str,
        doc: &'a ExecutableDocument,
        stack: &mut Vec<&'a str>,
        none: T,
        visit: impl FnOnce(&'a str, &mut Vec<&'a str>) -> T,
    ) -> T {
        if stack.contains(&name) || !doc.fragments.keys().any(|k| k.as_str() == name) {
            return none;
        }
        stack.push(name);
        let n = visit(name, stack);
        stack.pop();
        n
    }
    /// The root level: each root field counts toward data or introspection.
    fn roots<'a>(
        s: &'a SelectionSet,
        doc: &'a ExecutableDocument,
        memo: &mut HashMap<&'a str, (usize, usize)>,
        stack: &mut Vec<&'a str>,
        out: &mut Depths,
    ) {
        for item in &s.items {
            match &item.node {
                Selection::Field(f) => {
                    let (depth, lists) = nesting(&f.node.selection_set.node, doc, memo, stack);
                    if INTROSPECTION_ROOTS.contains(&f.node.name.node.as_str()) {
                        out.introspection = out.introspection.max(1 + depth);
                        out.introspection_lists = out.introspection_lists.max(lists);
                    } else {
                        out.data = out.data.max(1 + depth);
                    }
                }
                Selection::InlineFragment(i) => roots(&i.node.selection_set.node, doc, memo, stack, out),
                Selection::FragmentSpread(sp) => {
                    fragment(sp.node.fragment_name.node.as_str(), doc, stack, (), |_, stack| {
                        let frag = &doc.fragments[&sp.node.fragment_name.node];
                        roots(&frag.node.selection_set.node, doc, memo, stack, out);
                    });
                }
            }
        }
    }
    let (mut memo, mut out) = (HashMap::new(), Depths::default());
    for (_, op) in doc.operations.iter() {
        roots(&op.node.selection_set.node, doc, &mut memo, &mut Vec::new(), &mut out);
    }
    out
}

/// The size check of a response's data (`GEPI_RESPONSE_LIMIT_BYTES`, 4 MiB by default).
pub fn check_response_size(bytes: usize, limit: usize) -> Result<(), AppError> {
    if bytes > limit {
        return Err(AppError::Limit(format!(
            "the response would be {bytes} bytes, over the limit of {limit}; ask for smaller pages or fewer fields"
        )));
    }
    Ok(())
}

/// Field selections of every operation with its fragments expanded, computed in
/// one pass per fragment (memoised), saturating; a spread of a fragment being
/// expanded (a cycle, refused by validation) counts nothing.
fn expanded(doc: &ExecutableDocument) -> usize {
    use std::collections::HashMap;
    fn set<'a>(
        s: &'a SelectionSet,
        doc: &'a ExecutableDocument,
        memo: &mut HashMap<&'a str, usize>,
        stack: &mut Vec<&'a str>,
    ) -> usize {
        s.items.iter().fold(0usize, |n, item| {
            n.saturating_add(match &item.node {
                Selection::Field(f) => 1usize.saturating_add(set(&f.node.selection_set.node, doc, memo, stack)),
                Selection::InlineFragment(i) => set(&i.node.selection_set.node, doc, memo, stack),
                Selection::FragmentSpread(sp) => {
                    let name = sp.node.fragment_name.node.as_str();
                    if let Some(n) = memo.get(name) {
                        *n
                    } else if stack.contains(&name) {
                        0
                    } else if let Some(f) = doc.fragments.get(&sp.node.fragment_name.node) {
                        stack.push(name);
                        let n = set(&f.node.selection_set.node, doc, memo, stack);
                        stack.pop();
                        memo.insert(name, n);
                        n
                    } else {
                        0
                    }
                }
            })
        })
    }
    let mut memo = HashMap::new();
    doc.operations
        .iter()
        .fold(0usize, |n, (_, op)| n.saturating_add(set(&op.node.selection_set.node, doc, &mut memo, &mut Vec::new())))
}

#[derive(Default)]
struct Walk {
    aliases: usize,
    error: Option<AppError>,
}

impl Walk {
    fn document(&mut self, doc: &ExecutableDocument) {
        for (_, op) in doc.operations.iter() {
            self.directives(&op.node.directives);
            for v in &op.node.variable_definitions {
                self.directives(&v.node.directives);
            }
            self.selections(&op.node.selection_set);
        }
        for f in doc.fragments.values() {
            self.directives(&f.node.directives);
            self.selections(&f.node.selection_set);
        }
    }

    fn selections(&mut self, set: &Positioned<SelectionSet>) {
        for item in &set.node.items {
            match &item.node {
                Selection::Field(f) => {
                    if f.node.alias.is_some() {
                        self.aliases += 1;
                    }
                    self.directives(&f.node.directives);
                    self.selections(&f.node.selection_set);
                }
                Selection::FragmentSpread(s) => self.directives(&s.node.directives),
                Selection::InlineFragment(i) => {
                    self.directives(&i.node.directives);
                    self.selections(&i.node.selection_set);
                }
            }
        }
    }

    fn directives(&mut self, ds: &[Positioned<Directive>]) {
        if self.error.is_some() {
            return;
        }
        if ds.len() > MAX_DIRECTIVES_PER_FIELD {
            self.error = Some(AppError::Limit(format!(
                "a selection carries {} directives, over the limit of {MAX_DIRECTIVES_PER_FIELD}",
                ds.len()
            )));
            return;
        }
        for d in ds {
            let name = d.node.name.node.as_str();
            if !EXECUTABLE_DIRECTIVES.contains(&name) {
                self.error = Some(AppError::Validation {
                    field: None,
                    message: format!("unknown directive @{name}: operations may use @skip and @include"),
                });
                return;
            }
        }
    }
}

/// Lexical tokens of a GraphQL document, counted up to `stop`.
fn count_tokens(s: &str, stop: usize) -> usize {
    let b = s.as_bytes();
    let (mut i, mut n) = (0, 0);
    while i < b.len() && n < stop {
        match b[i] {
            b' ' | b'\t' | b'\n' | b'\r' | b',' => i += 1,
            0xEF if b[i..].starts_with(&[0xEF, 0xBB, 0xBF]) => i += 3,
            b'#' => {
                while i < b.len() && b[i] != b'\n' && b[i] != b'\r' {
                    i += 1;
                }
            }
            b'"' if b[i..].starts_with(b"\"\"\"") => {
                i += 3;
                while i < b.len() && !b[i..].starts_with(b"\"\"\"") {
                    i += if b[i..].starts_with(b"\\\"\"\"") { 4 } else { 1 };
                }
                i += 3;
                n += 1;
            }
            b'"' => {
                i += 1;
                while i < b.len() && b[i] != b'"' && b[i] != b'\n' {
                    i += if b[i] == b'\\' { 2 } else { 1 };
                }
                i += 1;
                n += 1;
            }
            b'.' if b[i..].starts_with(b"...") => {
                i += 3;
                n += 1;
            }
            c if c.is_ascii_alphabetic() || c == b'_' => {
                // A name: letters, digits and underscores, nothing else.
                i += 1;
                while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_') {
                    i += 1;
                }
                n += 1;
            }
            c if c.is_ascii_digit() || c == b'-' => {
                // A number: sign, digits, a fraction only when a digit follows the
                // point, an exponent only when a digit (after its sign) follows.
                let digits = |i: &mut usize| {
                    while *i < b.len() && b[*i].is_ascii_digit() {
                        *i += 1;
                    }
                };
                i += 1;
                digits(&mut i);
                if i + 1 < b.len() && b[i] == b'.' && b[i + 1].is_ascii_digit() {
                    i += 1;
                    digits(&mut i);
                }
                if i < b.len() && matches!(b[i], b'e' | b'E') {
                    let sign = usize::from(i + 1 < b.len() && matches!(b[i + 1], b'+' | b'-'));
                    if i + 1 + sign < b.len() && b[i + 1 + sign].is_ascii_digit() {
                        i += 1 + sign;
                        digits(&mut i);
                    }
                }
                n += 1;
            }
            _ => {
                // A punctuator, or a character the parser will refuse.
                i += s[i..].chars().next().map_or(1, char::len_utf8);
                n += 1;
            }
        }
    }
    n
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_checked_document_is_remembered_and_a_refused_one_refused_every_time() {
        let docs = CheckedDocuments::default();
        let aliases = (0..=MAX_ALIASES).map(|i| format!("a{i}: __typename")).collect::<Vec<_>>().join(" ");
        let refused = format!("{{ {aliases} }}");
        for _ in 0..2 {
            assert!(matches!(docs.check(&refused), Err(AppError::Limit(_))));
            assert!(docs.check("{ __typename }").is_ok());
        }
        assert_eq!(docs.0.len(), 1, "only the accepted document is kept");
        let mut ops = docs.check("query A { __typename } mutation B { __typename }").unwrap().operations.clone();
        ops.sort();
        assert_eq!(ops, [Some("A".to_string()), Some("B".to_string())]);
        assert_eq!(docs.check("{ __typename }").unwrap().operations, [None]);
        assert!(docs.check("{ unparseable").unwrap().document.is_none());
    }

    #[test]
    fn tokens_are_counted_as_the_grammar_defines_them() {
        assert_eq!(count_tokens("{ me { id } }", 100), 6);
        // Commas, whitespace and comments are not tokens; strings are one.
        assert_eq!(count_tokens("query Q($a: Int = -1.5e+3) { # note\n f(a: $a, s: \"x, y { }\") }", 100), 22);
        assert_eq!(count_tokens("{ a ...F } fragment F on T { b }", 100), 12);
        assert_eq!(count_tokens(r#"{ f(s: """block "" { } """) }"#, 100), 8);
        assert_eq!(count_tokens(&"{ a ".repeat(10_000), 50), 50, "counting stops at the bound");
        // A name never swallows the punctuator after it.
        assert_eq!(count_tokens("a...F...F...F", 100), 7);
        assert_eq!(count_tokens("f(x: 1.5e3) g(y: 12.x)", 100), 14);
    }

    #[test]
    fn aliases_directives_and_tokens_are_bounded() {
        let aliases: String = (0..=MAX_ALIASES).map(|i| format!("a{i}: me {{ id }} ")).collect();
        let e = check(&format!("{{ {aliases} }}")).unwrap_err();
        assert!(
            matches!(&e, AppError::Limit(m) if m.contains(&format!("{} aliases", MAX_ALIASES + 1)) && m.contains(&MAX_ALIASES.to_string())),
            "{e:?}"
        );
        let e = check(&format!("{{ me {{ {} }} }}", "id ".repeat(MAX_TOKENS))).unwrap_err();
        assert!(matches!(&e, AppError::Limit(m) if m.contains(&MAX_TOKENS.to_string())), "{e:?}");
        let e = check("{ me @nonexistent { id } }").unwrap_err();
        assert_eq!(e.code().as_str(), "VALIDATION");
        assert!(e.to_string().contains("@nonexistent"));
        let e = check("query { ...F } fragment F on Query @deprecated { me { id } }").unwrap_err();
        assert_eq!(e.code().as_str(), "VALIDATION");
        let e =
            check("{ me @skip(if: false) @include(if: true) @skip(if: false) @include(if: true) { id } }").unwrap_err();
        assert_eq!(e.code().as_str(), "LIMIT");
        check("query($x: Boolean!) { me @include(if: $x) { id } a: me { id } }").unwrap();
    }

    #[test]
    fn fragments_are_counted_expanded() {
        // 31 levels of doubling spreads: a few hundred tokens, 2^31 fields.
        let mut q = String::from("query { ...F0 }");
        for i in 0..31 {
            q += &format!(" fragment F{i} on Query {{ ...F{} ...F{} }}", i + 1, i + 1);
        }
        q += " fragment F31 on Query { __typename }";
        assert!(count_tokens(&q, MAX_TOKENS + 1) < MAX_TOKENS);
        let e = check(&q).unwrap_err();
        assert!(
            matches!(&e, AppError::Limit(m) if m.contains("2147483648") && m.contains(&MAX_SELECTIONS.to_string())),
            "{e:?}"
        );
        // A fragment used twice counts twice; a cycle counts nothing (validation refuses it).
        let doc = parse_query("{ a { ...F } b { ...F } } fragment F on T { x y }").unwrap();
        assert_eq!(expanded(&doc), 6);
        let doc = parse_query("{ ...A } fragment A on Q { x ...B } fragment B on Q { y ...A }").unwrap();
        assert_eq!(expanded(&doc), 2);
    }

    /// `{ kind ofType { kind ofType { … } } }`, `n` levels of `ofType`.
    fn type_ref(n: usize) -> String {
        (0..n).fold("{ kind }".to_string(), |inner, _| format!("{{ kind ofType {inner} }}"))
    }

    #[test]
    fn introspection_has_its_own_depth_bound_and_data_keeps_its_own() {
        // The shape of graphql-js 16's standard query: a field's argument's type, nine `ofType` deep.
        let standard = format!(
            "query IntrospectionQuery {{ __schema {{ ...S }} }} fragment S on __Schema {{ types {{ fields {{ args {{ type {} }} }} }} }}",
            type_ref(9)
        );
        assert_eq!(
            depths(&parse_query(&standard).unwrap()),
            Depths { data: 0, introspection: 15, introspection_lists: 3 }
        );
        check(&standard).unwrap();
        // A fourth nested list multiplies the answer by the schema once more.
        let fan_out = "{ __type(name: \"Case\") { fields { type { fields { type { fields { type { fields { name } } } } } } } } }";
        let e = check(fan_out).unwrap_err();
        assert!(matches!(&e, AppError::Limit(m) if m.contains("nests 4 lists")), "{e:?}");
        let e = check(&format!(
            "{{ __type(name: \"Case\") {{ fields {{ type {} }} }} }}",
            type_ref(MAX_INTROSPECTION_DEPTH)
        ))
        .unwrap_err();
        assert!(
            matches!(&e, AppError::Limit(m) if m.contains(&format!("limit of {MAX_INTROSPECTION_DEPTH}"))),
            "{e:?}"
        );
        // Data is counted apart, fragments inlined, even beside introspection.
        let data = |levels: usize| (1..levels).fold("id".to_string(), |inner, _| format!("household {{ {inner} }}"));
        check(&format!("{{ __schema {{ types {{ name }} }} {} }}", data(MAX_DEPTH))).unwrap();
        let deep =
            format!("{{ __schema {{ types {{ name }} }} ...F }} fragment F on Query {{ {} }}", data(MAX_DEPTH + 1));
        assert_eq!(
            depths(&parse_query(&deep).unwrap()),
            Depths { data: MAX_DEPTH + 1, introspection: 3, introspection_lists: 1 }
        );
        let e = check(&deep).unwrap_err();
        assert!(
            matches!(&e, AppError::Limit(m) if m.contains(&format!("nests {} levels", MAX_DEPTH + 1)) && m.contains(&format!("limit of {MAX_DEPTH}"))),
            "{e:?}"
        );
        // `__schema` below the root is no introspection root: it counts as data.
        let nested = parse_query("{ me { __schema { a { b } } } }").unwrap();
        assert_eq!(depths(&nested), Depths { data: 4, introspection: 0, introspection_lists: 0 });
        // A cycle of fragments (refused by validation) counts nothing more.
        let doc = parse_query("{ ...A } fragment A on Query { a { ...B } } fragment B on T { b { ...A } }").unwrap();
        assert_eq!(depths(&doc).data, 2);
    }

    #[test]
    fn a_page_weighs_its_rows() {
        assert_eq!(page_cost(Some(100), 10), 1_001);
        assert_eq!(page_cost(None, 10), DEFAULT_PAGE as usize * 10 + 1);
        assert_eq!(page_cost(Some(-5), 10), 11);
        assert_eq!(page_cost(Some(i32::MAX), 10), LARGEST_PAGE * 10 + 1);
    }
}
