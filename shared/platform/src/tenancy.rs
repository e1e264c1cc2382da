//! Tenant isolation. With `SEAMS_TENANT_CLAIM` set (the template sets it with a JWT
//! authorizer), every HTTP caller belongs to the tenant its token's claim names, and sees only
//! that tenant's documents: ingest qualifies every document id it stores with the tenant and
//! stamps the tenant on the document's attributes; retrieve and answer search with a
//! mandatory filter on that attribute. Unset, the deployment is single-tenant.
//!
//! The claim comes from the HTTP API's JWT authorizer (API Gateway checked the token before
//! the function runs), never from a body. Direct invokes and upstream events are trusted
//! callers (IAM) and carry the tenant in their payload.

use std::collections::HashMap;

use aws_lambda_events::apigw::ApiGatewayV2httpRequest;
use seams_contracts::ErrorName;

use crate::config::Env;
use crate::ServiceError;

/// The document attribute that holds a document's tenant; callers cannot set it.
pub const TENANT_ATTRIBUTE: &str = "tenant";

/// The variable naming the JWT claim that holds the caller's tenant.
pub const TENANT_CLAIM_VAR: &str = "SEAMS_TENANT_CLAIM";

/// A tenant's name: 1 to 64 letters, digits, `.`, `_` or `-`. Never `:`, which separates it
/// from the caller's own id in a qualified document id.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Tenant(String);

impl Tenant {
    pub fn new(name: &str) -> Result<Self, ServiceError> {
        let valid = !name.is_empty()
            && name.len() <= 64
            && name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
        if valid {
            Ok(Self(name.to_owned()))
        } else {
            Err(ServiceError::new(ErrorName::Forbidden, "the token's tenant is not a valid tenant name"))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The id a document of this tenant is stored under: `<tenant>:<id>`. An id that already
    /// starts with this tenant's prefix is taken as qualified, so the ids the API returns can
    /// be sent back as they are. Another tenant's prefix is just part of this tenant's id.
    pub fn qualify(&self, id: &str) -> String {
        match id.strip_prefix(self.0.as_str()).and_then(|rest| rest.strip_prefix(':')) {
            Some(_) => id.to_owned(),
            None => format!("{}:{id}", self.0),
        }
    }

    /// Whether a stored (qualified) document id is this tenant's.
    pub fn owns(&self, qualified_id: &str) -> bool {
        qualified_id.strip_prefix(self.0.as_str()).is_some_and(|rest| rest.starts_with(':'))
    }

    /// The first qualified id of this tenant, in key order.
    pub fn prefix(&self) -> String {
        format!("{}:", self.0)
    }
}

/// Which claim, if any, makes a deployment multi-tenant.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tenancy {
    claim: Option<String>,
}

impl Tenancy {
    pub fn single() -> Self {
        Self { claim: None }
    }

    pub fn by_claim(claim: impl Into<String>) -> Self {
        Self { claim: Some(claim.into()) }
    }

    pub fn from_env(env: &Env) -> Self {
        Self { claim: env.optional(TENANT_CLAIM_VAR).filter(|claim| !claim.trim().is_empty()) }
    }

    /// The claim that names the caller's tenant, in a multi-tenant deployment.
    pub fn claim(&self) -> Option<&str> {
        self.claim.as_deref()
    }

    pub fn is_multi_tenant(&self) -> bool {
        self.claim.is_some()
    }

    /// The caller's tenant: none in a single-tenant deployment; else the claim's value, and a
    /// caller without one is refused (`Seams.Forbidden`, 403).
    pub fn tenant_of(&self, caller: &Caller) -> Result<Option<Tenant>, ServiceError> {
        let Some(claim) = &self.claim else {
            return Ok(None);
        };
        match caller.claims.get(claim) {
            Some(name) => Tenant::new(name).map(Some),
            None => Err(ServiceError::new(
                ErrorName::Forbidden,
                format!("this deployment is multi-tenant and the caller's token has no {claim} claim"),
            )),
        }
    }
}

/// Who made an HTTP request, as the JWT authorizer vouched: its token's claims (API Gateway
/// passes them as strings).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Caller {
    pub claims: HashMap<String, String>,
}

impl Caller {
    pub fn of(request: &ApiGatewayV2httpRequest) -> Self {
        let claims = request.request_context.authorizer.as_ref().and_then(|authorizer| authorizer.jwt.as_ref());
        Self { claims: claims.map(|jwt| jwt.claims.clone()).unwrap_or_default() }
    }
}

/// A field a caller sent that only the deployment may set.
pub fn refuse_callers_tenant(field: &str) -> ServiceError {
    ServiceError::invalid_input(
        field,
        "the tenant is set by the deployment from the caller's token, never by the caller",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn qualified_ids_stay_inside_the_tenant() {
        let acme = Tenant::new("acme").unwrap();
        assert_eq!(acme.qualify("refunds"), "acme:refunds");
        assert_eq!(acme.qualify("acme:refunds"), "acme:refunds", "a returned id can be sent back");
        // Another tenant's prefix, or a look-alike, is only part of acme's own id.
        assert_eq!(acme.qualify("beta:refunds"), "acme:beta:refunds");
        assert_eq!(acme.qualify("acmecorp:x"), "acme:acmecorp:x");
        assert!(acme.owns("acme:refunds") && !acme.owns("acmecorp:x") && !acme.owns("beta:acme:x"));
        for name in ["", "a:b", "a b", "ü", &"x".repeat(65)] {
            assert_eq!(Tenant::new(name).unwrap_err().name, ErrorName::Forbidden, "{name:?}");
        }
    }

    #[test]
    fn a_multi_tenant_deployment_needs_the_claim() {
        let caller = |pairs: &[(&str, &str)]| Caller {
            claims: pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
        };
        let tenancy = Tenancy::by_claim("org");
        assert_eq!(tenancy.tenant_of(&caller(&[("org", "acme")])).unwrap(), Some(Tenant::new("acme").unwrap()));
        assert_eq!(tenancy.tenant_of(&caller(&[("tenant", "acme")])).unwrap_err().name, ErrorName::Forbidden);
        assert_eq!(Tenancy::single().tenant_of(&caller(&[("org", "acme")])).unwrap(), None);
    }
}
