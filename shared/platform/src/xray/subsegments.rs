//! The SDK side of [`super`]: an interceptor every AWS client is built with.

use std::sync::Arc;
use std::time::SystemTime;

use aws_sdk_s3::config::interceptors::{BeforeSerializationInterceptorContextRef, FinalizerInterceptorContextRef};
use aws_sdk_s3::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use aws_smithy_types::config_bag::{Storable, StoreReplace};

use super::{Call, Daemon};

/// The SDK interceptor that times each AWS operation (all its attempts) as one subsegment.
#[derive(Debug, Clone)]
pub struct Subsegments {
    daemon: Option<Arc<Daemon>>,
}

impl Subsegments {
    /// To this process's daemon; sends nothing where there is none.
    pub fn from_env() -> Self {
        Self { daemon: Daemon::from_env() }
    }

    pub fn to(daemon: Arc<Daemon>) -> Self {
        Self { daemon: Some(daemon) }
    }
}

#[derive(Debug, Clone)]
struct Started(SystemTime);

impl Storable for Started {
    type Storer = StoreReplace<Self>;
}

impl Intercept for Subsegments {
    fn name(&self) -> &'static str {
        "XraySubsegments"
    }

    fn read_before_execution(
        &self,
        _context: &BeforeSerializationInterceptorContextRef<'_>,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        cfg.interceptor_state().store_put(Started(SystemTime::now()));
        Ok(())
    }

    fn read_after_execution(
        &self,
        context: &FinalizerInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let (Some(daemon), Some(Started(start)), Some(metadata)) =
            (&self.daemon, cfg.load::<Started>(), cfg.load::<Metadata>())
        else {
            return Ok(());
        };
        daemon.send(&Call {
            name: metadata.service().to_owned(),
            operation: metadata.name().to_owned(),
            aws: true,
            start: *start,
            end: SystemTime::now(),
            status: context.response().map(|response| response.status().as_u16()),
        });
        Ok(())
    }
}
