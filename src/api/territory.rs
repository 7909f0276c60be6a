//! Mutations on the territory: the conventions of the Comuni (thin: decode the
//! document, one service call, re-read the row through the same authorization
//! as any read).

use async_graphql::{Context, InputObject, Object, ID};
use base64::Engine;
use entity::{ambito, comune, convention};
use sea_orm::{QueryFilter, QueryOrder};

use super::lists::{all, page_of, sort};
use crate::graphql::scalars::Date;
use crate::territory::{
    lists,
    service::{self, ConventionInput},
};
use crate::{
    api::views::{AmbitoView, ComuneView, ConventionView},
    authz::gateway::Direction,
    error::{AppError, GqlResult, ResultExt},
    graphql::{
        connection::Connection,
        context::{acting, gateway, uuid_arg},
        enums::ConventionKindView,
        node::by_id,
    },
};

/// Input of `uploadConvention`.
#[derive(InputObject)]
pub struct UploadConventionInput {
    /// ISTAT code of the Comune party to the convention (of the administrator's Ambito).
    pub comune: String,
    /// USO_GEPI (the Comune's data on GePI) or PUC.
    pub kind: ConventionKindView,
    /// Date of signature.
    pub signed_on: Date,
    /// First day of validity.
    pub valid_from: Date,
    /// Last day of validity; omitted when open-ended.
    pub valid_to: Option<Date>,
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
    async fn upload_convention(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The Comune, the kind of convention, its dates and the signed document.")]
        input: UploadConventionInput,
    ) -> GqlResult<ConventionView> {
        let a = acting(ctx)?;
        // Who may upload, before the input is looked at.
        let by = service::uploader(&a).gql()?;
        let document = base64::engine::general_purpose::STANDARD
            .decode(input.document.trim())
            .map_err(|_| AppError::validation("input.document", "is not base64 (standard alphabet, padded)"))
            .gql()?;
        let c = ConventionInput {
            comune: input.comune,
            kind: input.kind.into(),
            signed_on: input.signed_on.0,
            valid_from: input.valid_from.0,
            valid_to: input.valid_to.map(Into::into),
            document,
        };
        let id = service::upload_convention(&a, by, &c).await.gql()?;
        Ok(ConventionView(by_id::<convention::Entity>(a.gw, convention::Column::Id, id, "Convention").await.gql()?))
    }
}

#[derive(Default)]
pub struct TerritoryQuery;

#[Object]
impl TerritoryQuery {
    /// Ambiti territoriali the viewer may see, by name.
    #[graphql(
        complexity = "crate::graphql::limits::page_cost(first, child_complexity)",
        visible = "crate::graphql::visibility::reads_ambito"
    )]
    async fn ambiti(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Rows per page: 20 when omitted; over the role's page cap the answer is `LIMIT`.")]
        first: Option<i32>,
        #[graphql(desc = "The cursor to continue after: the `pageInfo.endCursor` of the previous page.")] after: Option<
            String,
        >,
    ) -> GqlResult<Connection<AmbitoView>> {
        let sort = sort!(ambito, Name, Direction::Asc, |r: &ambito::Model| r.name.clone());
        page_of(ctx, all, &sort, (first, after), AmbitoView).await
    }

    /// Comuni the viewer may see, by name (a small reference table: not paginated).
    #[graphql(visible = "crate::graphql::visibility::reads_comune")]
    async fn comuni(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Only the Comuni of this Ambito.")] ambito_id: Option<ID>,
    ) -> GqlResult<Vec<ComuneView>> {
        let gw = gateway(ctx)?;
        let ambito = ambito_id.map(|a| uuid_arg("ambitoId", "Ambito", &a)).transpose()?;
        let rows = gw
            .select::<comune::Entity>()
            .gql()?
            .filter(lists::comune_list(ambito))
            .order_by_asc(comune::Column::Name)
            .all(&gw.reads)
            .await
            .map_err(AppError::from)
            .gql()?;
        Ok(rows.into_iter().map(ComuneView).collect())
    }

    /// Conventions of the Comuni the viewer may see, newest first.
    #[graphql(
        complexity = "crate::graphql::limits::page_cost(first, child_complexity)",
        visible = "crate::graphql::visibility::reads_convention"
    )]
    async fn conventions(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Rows per page: 20 when omitted; over the role's page cap the answer is `LIMIT`.")]
        first: Option<i32>,
        #[graphql(desc = "The cursor to continue after: the `pageInfo.endCursor` of the previous page.")] after: Option<
            String,
        >,
        #[graphql(
            desc = "Only conventions whose validity ends within this many days from today (0-3650), today included; see `dependentProfiles`."
        )]
        expiring_within_days: Option<i32>,
    ) -> GqlResult<Connection<ConventionView>> {
        let sort = sort!(convention, SignedOn, Direction::Desc, |r: &convention::Model| r.signed_on);
        page_of(ctx, |_| lists::convention_list(expiring_within_days), &sort, (first, after), ConventionView).await
    }
}
