//! Mutations on the territory: the conventions of the Comuni (thin: decode the
//! document, one service call, re-read the row through the same authorization
//! as any read).

use async_graphql::{Context, InputObject, Object};
use base64::Engine;
use chrono::NaiveDate;
use entity::convention;
use sea_orm::TransactionTrait;

use crate::territory::service::{self, ConventionInput};
use crate::{
    api::views::ConventionView,
    authz::{Action, Object as AuthzObject, Scope},
    error::{AppError, GqlResult, ResultExt},
    graphql::{context::acting, enums::ConventionKindView, node::by_id},
};

/// Input of `uploadConvention`.
#[derive(InputObject)]
pub struct UploadConventionInput {
    /// ISTAT code of the Comune party to the convention (of the administrator's Ambito).
    pub comune: String,
    /// USO_GEPI (the Comune's data on GePI) or PUC.
    pub kind: ConventionKindView,
    /// Date of signature.
    pub signed_on: NaiveDate,
    /// First day of validity.
    pub valid_from: NaiveDate,
    /// Last day of validity; omitted when open-ended.
    pub valid_to: Option<NaiveDate>,
    /// The signed PDF, base64-encoded (standard alphabet, padded).
    pub document: String,
}

#[derive(Default)]
pub struct TerritoryMutation;

#[Object]
impl TerritoryMutation {
    /// Amministratore dell'Ambito: records a signed convention of a Comune of the
    /// Ambito, with its document (PDF; its SHA-256 and size are kept).
    #[graphql(visible = "crate::graphql::visibility::creates_convention")]
    async fn upload_convention(&self, ctx: &Context<'_>, input: UploadConventionInput) -> GqlResult<ConventionView> {
        let a = acting(ctx)?;
        let me = a.me().gql()?;
        let ambito = match a.gw.authz.scope_for(AuthzObject::Convention, Action::Create).gql()? {
            Scope::Ambito => a.gw.authz.principal.ambito_id,
            _ => None,
        }
        .ok_or_else(|| AppError::Forbidden("conventions are uploaded by the administrator of the Ambito".into()))
        .gql()?;
        let document = base64::engine::general_purpose::STANDARD
            .decode(input.document.trim())
            .map_err(|_| AppError::validation("input.document", "is not base64 (standard alphabet, padded)"))
            .gql()?;
        let c = ConventionInput {
            comune: input.comune,
            kind: input.kind.into(),
            signed_on: input.signed_on,
            valid_from: input.valid_from,
            valid_to: input.valid_to,
            document,
        };
        let txn = a.gw.db.begin().await.map_err(AppError::from).gql()?;
        let row = service::add_convention(&txn, ambito, &c, Some(me), &a.audit_ctx()).await.gql()?;
        txn.commit().await.map_err(AppError::from).gql()?;
        Ok(ConventionView(by_id::<convention::Entity>(a.gw, convention::Column::Id, row.id, "Convention").await.gql()?))
    }
}
