//! Relations between governed types: per-request loaders that batch every
//! relation of a nesting level into one statement, under the target's row rule.
//! A relation to a type the role cannot read is redacted, never an error.

use std::{
    any::{Any, TypeId},
    collections::HashMap,
    hash::Hash,
    sync::{Arc, Mutex},
};

use async_graphql::{Context, ErrorExtensions};
use sea_orm::{IdenStatic, Value};
use uuid::Uuid;

use crate::{
    authz::{
        gateway::{Gateway, Projected},
        FieldKey, RequestAuthz,
    },
    error::{AppError, GqlResult},
    graphql::guard::{request_authz, show_in},
    principal::Actor,
};

/// The grouping key of a child row: its foreign key (nullable ones are never
/// null on rows loaded by that key).
pub trait IntoKey<K> {
    fn into_key(self) -> K;
}

impl<T> IntoKey<T> for T {
    fn into_key(self) -> T {
        self
    }
}

impl IntoKey<Uuid> for Option<Uuid> {
    fn into_key(self) -> Uuid {
        self.unwrap_or_default()
    }
}

/// Whether `id` is the principal's operator id.
pub fn is_me(ctx: &Context<'_>, id: impl Into<Option<Uuid>>) -> bool {
    ctx.data_opt::<Arc<RequestAuthz>>().is_some_and(|a| is_me_in(a, id))
}

/// Whether `id` is the operator id of the request's principal.
pub fn is_me_in(a: &RequestAuthz, id: impl Into<Option<Uuid>>) -> bool {
    match (&a.principal.actor, id.into()) {
        (Actor::Operator { operator_id, .. }, Some(id)) => *operator_id == id,
        _ => false,
    }
}

/// Passes of the executor without a new key after which a batch is fetched.
const QUIET_PASSES: u32 = 2;

type Fetch<K, V> =
    Box<dyn Fn(Vec<K>) -> futures::future::BoxFuture<'static, Result<HashMap<K, V>, AppError>> + Send + Sync>;

/// Per-request batching of lookups by key.
///
/// Batching does not wait on a timer (timers split batches on a busy or slow
/// machine): the first caller of a round becomes its leader and yields until two
/// yields in a row pass with no new key, so every sibling resolved in the same pass of
/// the executor joins the batch; then one fetch serves them all. Results are
/// cached for the request; keys the fetch does not return get `V::default()`.
pub struct Batcher<K, V> {
    fetch: Fetch<K, V>,
    state: Mutex<BatchState<K, V>>,
    notify: tokio::sync::Notify,
}

struct BatchState<K, V> {
    pending: Vec<K>,
    done: HashMap<K, V>,
    flushing: bool,
    error: Option<Arc<AppError>>,
}

impl<K, V> Batcher<K, V>
where
    K: Clone + Hash + Eq + Send + Sync + 'static,
    V: Clone + Default + Send + Sync + 'static,
{
    pub fn new(fetch: Fetch<K, V>) -> Self {
        Batcher {
            fetch,
            state: Mutex::new(BatchState { pending: Vec::new(), done: HashMap::new(), flushing: false, error: None }),
            notify: tokio::sync::Notify::new(),
        }
    }

    /// The value of key `k`.
    pub async fn load(&self, k: K) -> Result<V, Arc<AppError>> {
        loop {
            let wait = {
                let mut st = self.state.lock().expect("loader lock");
                if let Some(v) = st.done.get(&k) {
                    return Ok(v.clone());
                }
                if let Some(e) = &st.error {
                    return Err(e.clone());
                }
                if !st.pending.contains(&k) {
                    st.pending.push(k.clone());
                }
                if st.flushing {
                    // Registered before the lock is released: no wake-up is lost.
                    Some(self.notify.notified())
                } else {
                    st.flushing = true;
                    None
                }
            };
            match wait {
                Some(notified) => notified.await,
                None => self.flush().await,
            }
        }
    }

    async fn flush(&self) {
        // Two passes in a row with no new key: a sibling the executor polls late
        // in a pass (a long list is polled in slices, and a busy runtime spreads
        // the slices out) still joins this batch rather than starting another.
        let (mut seen, mut quiet) = (0, 0);
        while quiet < QUIET_PASSES {
            tokio::task::yield_now().await;
            let n = self.state.lock().expect("loader lock").pending.len();
            quiet = if n == seen { quiet + 1 } else { 0 };
            seen = n;
        }
        let keys = std::mem::take(&mut self.state.lock().expect("loader lock").pending);
        let result = (self.fetch)(keys.clone()).await;
        {
            let mut st = self.state.lock().expect("loader lock");
            match result {
                Ok(mut found) => {
                    for k in keys {
                        let v = found.remove(&k).unwrap_or_default();
                        st.done.insert(k, v);
                    }
                }
                Err(e) => st.error = Some(Arc::new(e)),
            }
            st.flushing = false;
        }
        self.notify.notify_waiters();
    }
}

/// Rows of `E` whose `col` is one of the keys, under the row condition, grouped
/// by the key `key_of` extracts: one statement per batch.
pub type Rel<E, K> = Batcher<K, Vec<<E as sea_orm::EntityTrait>::Model>>;

fn rel_batcher<E, K>(gw: Gateway, col: E::Column, order: E::Column, key_of: fn(&E::Model) -> K) -> Rel<E, K>
where
    E: Projected,
    E::Model: Clone + Send + Sync + 'static,
    E::Column: Send + Sync,
    K: Into<Value> + Clone + Hash + Eq + Send + Sync + 'static,
{
    Batcher::new(Box::new(move |keys: Vec<K>| {
        let gw = gw.clone();
        Box::pin(async move {
            let rows = gw.by_keys::<E, K>(col, &keys, Some(order)).await?;
            let mut out: HashMap<K, Vec<E::Model>> = HashMap::new();
            for r in rows {
                out.entry(key_of(&r)).or_default().push(r);
            }
            Ok(out)
        })
    }))
}

/// A loader per (target type, key column, order column).
type LoaderKey = (TypeId, &'static str, &'static str);

/// The loaders of one request. Built per request: they carry the principal's
/// row conditions, and a loader shared across requests would leak rows.
pub struct Loaders {
    gw: Gateway,
    map: Mutex<HashMap<LoaderKey, Arc<dyn Any + Send + Sync>>>,
}

impl Loaders {
    pub fn new(gw: Gateway) -> Self {
        Loaders { gw, map: Mutex::default() }
    }

    pub fn gateway(&self) -> &Gateway {
        &self.gw
    }

    /// A batcher of this request, created on first use under `name`.
    pub fn batcher<K, V>(&self, name: &'static str, make: impl FnOnce(&Gateway) -> Batcher<K, V>) -> Arc<Batcher<K, V>>
    where
        K: Clone + Hash + Eq + Send + Sync + 'static,
        V: Clone + Default + Send + Sync + 'static,
    {
        let key = (TypeId::of::<Batcher<K, V>>(), name, "");
        let mut map = self.map.lock().expect("loaders lock");
        let entry = map.entry(key).or_insert_with(|| Arc::new(Arc::new(make(&self.gw))) as Arc<dyn Any + Send + Sync>);
        entry.downcast_ref::<Arc<Batcher<K, V>>>().expect("batcher type").clone()
    }

    pub fn rel<E, K>(&self, col: E::Column, order: E::Column, key_of: fn(&E::Model) -> K) -> Arc<Rel<E, K>>
    where
        E: Projected,
        E::Model: Clone + Send + Sync + 'static,
        E::Column: Send + Sync,
        K: Into<Value> + Clone + Hash + Eq + Send + Sync + 'static,
    {
        let key = (TypeId::of::<Rel<E, K>>(), col.as_str(), order.as_str());
        let mut map = self.map.lock().expect("loaders lock");
        let entry = map.entry(key).or_insert_with(|| {
            Arc::new(Arc::new(rel_batcher::<E, K>(self.gw.clone(), col, order, key_of))) as Arc<dyn Any + Send + Sync>
        });
        entry.downcast_ref::<Arc<Rel<E, K>>>().expect("loader type").clone()
    }
}

pub fn loaders<'a>(ctx: &'a Context<'_>) -> GqlResult<&'a Loaders> {
    request_authz(ctx)?;
    ctx.data::<Loaders>()
}

/// Whether the relation `key` may be followed; records the redaction otherwise.
pub fn may_follow<E: Projected>(ctx: &Context<'_>, key: FieldKey, own: bool) -> GqlResult<bool> {
    let authz = request_authz(ctx)?;
    Ok(may_follow_in(authz, || ctx.path_node.map(|n| n.to_string_vec()).unwrap_or_default(), key, own, E::OBJECT))
}

/// [`may_follow`] for any reader of a relation: the field guard on `key`, then
/// whether the role reads the target type at all.
pub fn may_follow_in(
    authz: &RequestAuthz,
    path: impl Fn() -> Vec<String>,
    key: FieldKey,
    own: bool,
    target: crate::authz::Object,
) -> bool {
    if show_in(authz, &path, key, own, || ()).is_none() {
        return false;
    }
    if !authz.can_read(target) {
        authz.redact(path(), format!("the role {} may not read {}", authz.role().as_str(), target));
        return false;
    }
    true
}

/// To-one relation: the row of `E` whose `col` is `key`, if visible.
pub async fn rel_one<E, K>(
    ctx: &Context<'_>,
    field: FieldKey,
    own: bool,
    col: E::Column,
    key: Option<K>,
    key_of: fn(&E::Model) -> K,
) -> GqlResult<Option<E::Model>>
where
    E: Projected,
    E::Model: Clone + Send + Sync + 'static,
    E::Column: Send + Sync,
    K: Into<Value> + Clone + Hash + Eq + Send + Sync + 'static,
{
    let Some(key) = key else { return Ok(None) };
    if !may_follow::<E>(ctx, field, own)? {
        return Ok(None);
    }
    let rows = loaders(ctx)?.rel::<E, K>(col, col, key_of).load(key).await.map_err(|e| e.extend())?;
    Ok(rows.into_iter().next())
}

/// To-many relation: the visible rows of `E` whose `col` is `key`, in `order`;
/// `None` when the relation is redacted.
pub async fn rel_many<E, K>(
    ctx: &Context<'_>,
    field: FieldKey,
    own: bool,
    col: E::Column,
    key: K,
    key_of: fn(&E::Model) -> K,
    order: E::Column,
) -> GqlResult<Option<Vec<E::Model>>>
where
    E: Projected,
    E::Model: Clone + Send + Sync + 'static,
    E::Column: Send + Sync,
    K: Into<Value> + Clone + Hash + Eq + Send + Sync + 'static,
{
    if !may_follow::<E>(ctx, field, own)? {
        return Ok(None);
    }
    let rows = loaders(ctx)?.rel::<E, K>(col, order, key_of).load(key).await.map_err(|e| e.extend())?;
    Ok(Some(rows))
}
