//! GraphQL: who am I (`me`), the profiles to choose from, choosing or switching
//! profile, logging out.

use async_graphql::{Context, Object, SimpleObject, ID};
use entity::{enums::AuditAction, profile};
use sea_orm::{ColumnTrait, DatabaseConnection, QueryFilter, TransactionTrait};

use super::{login, session};
use crate::graphql::scalars::Date;
use crate::unscoped::Unscoped;
use crate::{
    api::views::{OperatorView, ProfileView},
    audit::{self, AuditEntry},
    error::{AppError, GqlResult, ResultExt},
    graphql::context::principal,
    graphql::enums::RoleView,
    graphql::RequestId,
    ids,
    operators::service as operators,
    principal::{Authn, PendingSession, Principal, PrincipalEpoch},
};

pub struct Me {
    operator: entity::operator::Model,
    profile: profile::Model,
}

/// The logged-in operator and the profile the session is bound to.
#[Object]
impl Me {
    /// The operator.
    async fn operator(&self) -> OperatorView {
        OperatorView(self.operator.clone())
    }
    /// The active profile: every authorization decision of this session follows it.
    async fn profile(&self) -> ProfileView {
        ProfileView(self.profile.clone())
    }
    /// Every profile of the operator in force today; `switchProfile` activates one.
    async fn profiles(&self, ctx: &Context<'_>) -> GqlResult<Vec<ProfileView>> {
        crate::graphql::guard::request_authz(ctx)?;
        let db = ctx.data_unchecked::<DatabaseConnection>();
        let all = operators::profiles_in_force(db, self.operator.id, crate::calendar::today()).await.gql()?;
        Ok(all.into_iter().map(ProfileView).collect())
    }
}

/// The operator's session behind the request, with its principal once a
/// profile is active; API keys and anonymous requests are refused.
fn operator_session<'a>(ctx: &'a Context<'_>) -> GqlResult<(PendingSession, Option<&'a Principal>)> {
    let authn = ctx.data_opt::<Authn>().unwrap_or(&Authn::Anonymous);
    if let Some(s) = authn.operator_session() {
        return Ok(s);
    }
    authn.principal().gql()?;
    Err(AppError::Forbidden("API clients have no profiles".into())).gql()
}

/// One profile an operator may activate: the list shown after login. It is the
/// operator's own data, readable before any role applies (as `Me`).
#[derive(SimpleObject)]
pub struct ProfileChoice {
    /// Global id of the profile, to pass to `switchProfile`.
    pub id: ID,
    /// The role the profile grants.
    pub role: RoleView,
    /// The profile's Ambito (none for national roles).
    pub ambito_name: Option<String>,
    /// First day the profile is in force.
    pub valid_from: Date,
    /// Last day the profile is in force (none: until revoked).
    pub valid_to: Option<Date>,
    /// Whether the session is bound to this profile.
    pub active: bool,
}

async fn profile_choices(
    db: &DatabaseConnection,
    operator_id: uuid::Uuid,
    active: Option<uuid::Uuid>,
) -> Result<Vec<ProfileChoice>, AppError> {
    let profiles = operators::profiles_in_force(db, operator_id, crate::calendar::today()).await?;
    let ambito_ids: Vec<uuid::Uuid> = profiles.iter().filter_map(|p| p.ambito_id).collect();
    let names: std::collections::HashMap<uuid::Uuid, String> = if ambito_ids.is_empty() {
        Default::default()
    } else {
        Unscoped::Login
            .find::<entity::ambito::Entity>()
            .filter(entity::ambito::Column::Id.is_in(ambito_ids))
            .all(db)
            .await?
            .into_iter()
            .map(|a| (a.id, a.name))
            .collect()
    };
    Ok(profiles
        .into_iter()
        .map(|p| ProfileChoice {
            id: ID(ids::encode("Profile", p.id)),
            role: p.role.into(),
            ambito_name: p.ambito_id.and_then(|a| names.get(&a).cloned()),
            valid_from: Date(p.valid_from),
            valid_to: p.valid_to.map(Date),
            active: Some(p.id) == active,
        })
        .collect())
}

async fn load_me(db: &DatabaseConnection, p: &Principal) -> Result<Me, AppError> {
    let crate::principal::Actor::Operator { operator_id, profile_id, .. } = p.actor else {
        return Err(AppError::Forbidden("`me` is for operators; API clients have no operator".into()));
    };
    let operator = operators::operator_by_id(db, operator_id)
        .await?
        .ok_or_else(|| AppError::Unauthenticated("operator not found".into()))?;
    let profile = operators::profile_for_login(db, operator_id, profile_id, crate::calendar::today()).await?;
    Ok(Me { operator, profile })
}

#[derive(Default)]
pub struct AuthQuery;

#[Object]
impl AuthQuery {
    /// The logged-in operator, the active profile and the other profiles.
    #[graphql(visible = "crate::graphql::visibility::operator")]
    async fn me(&self, ctx: &Context<'_>) -> GqlResult<Me> {
        let p = principal(ctx)?;
        load_me(ctx.data_unchecked::<DatabaseConnection>(), p).await.gql()
    }

    /// The profiles of the logged-in operator in force today. After a SPID login
    /// with several profiles the session has none: choose one with `switchProfile`.
    async fn profile_choices(&self, ctx: &Context<'_>) -> GqlResult<Vec<ProfileChoice>> {
        let (s, p) = operator_session(ctx)?;
        let active = p.and_then(Principal::profile_id);
        profile_choices(ctx.data_unchecked::<DatabaseConnection>(), s.operator_id, active).await.gql()
    }
}

#[derive(Default)]
pub struct AuthMutation;

#[Object]
impl AuthMutation {
    /// Binds the session to one of the operator's profiles in force: the choice
    /// after a SPID login with several profiles, or a switch later (explicit,
    /// audited). Takes effect from the next request.
    #[graphql(visible = "crate::graphql::visibility::login_surface")]
    async fn switch_profile(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The profile to act with: one of `profileChoices`.")] profile_id: ID,
    ) -> GqlResult<Me> {
        let (s, p) = operator_session(ctx)?;
        let db = ctx.data_unchecked::<DatabaseConnection>();
        let request_id = ctx.data_opt::<RequestId>().map(|r| r.0.clone());
        let pid = ids::decode_uuid("profileId", "Profile", &profile_id).gql()?;
        let (operator_id, session_id) = (s.operator_id, s.session_id);
        let from = p.and_then(Principal::profile_id);
        let target = operators::profile_for_login(db, operator_id, pid, crate::calendar::today()).await.gql()?;
        let audit_ctx = login::session_audit_context(s, p, request_id);
        db.transaction::<_, (), AppError>(|txn| {
            Box::pin(async move {
                session::switch_profile(txn, session_id, pid).await?;
                let mut e = AuditEntry::new("session", session_id, AuditAction::SwitchProfile);
                e.changes = Some(serde_json::json!({
                    "profile_id": { "before": from, "after": pid },
                }));
                audit::record(txn, &audit_ctx, vec![e]).await
            })
        })
        .await
        .map_err(AppError::from)
        .gql()?;
        ctx.data_unchecked::<PrincipalEpoch>().advance();
        let operator = operators::operator_by_id(db, operator_id)
            .await
            .gql()?
            .ok_or_else(|| AppError::Unauthenticated("operator not found".into()))
            .gql()?;
        Ok(Me { operator, profile: target })
    }

    /// Revokes the current session (with or without a profile).
    async fn logout(&self, ctx: &Context<'_>) -> GqlResult<bool> {
        let (s, p) = operator_session(ctx)?;
        let db = ctx.data_unchecked::<DatabaseConnection>();
        let request_id = ctx.data_opt::<RequestId>().map(|r| r.0.clone());
        login::logout_session(db, ctx.data_unchecked::<PrincipalEpoch>(), s, p, request_id).await.gql()?;
        Ok(true)
    }
}
