//! Where the database is and how a connection to it is opened: fixed settings or an RDS
//! secret, over rustls with the public roots and, optionally, RDS's own CA.

use std::sync::Arc;

use seams_platform::secrets::SecretCache;

use super::unavailable;
use crate::index::IndexError;

/// Where the database is and how to reach it.
#[derive(Clone)]
pub struct PostgresSettings {
    pub connection: Connection,
    pub schema: String,
    /// PEM certificates trusted besides the public roots (RDS's own CA, for direct
    /// connections; RDS Proxy's certificates are public).
    pub ca_file: Option<std::path::PathBuf>,
}

impl std::fmt::Debug for PostgresSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresSettings")
            .field("connection", &self.connection)
            .field("schema", &self.schema)
            .finish_non_exhaustive()
    }
}

/// How a connection is opened: with fixed settings (`DATABASE_URL`), or with an RDS secret
/// read each time one is opened, through a cache that keeps it for `SEAMS_SECRET_TTL_SECONDS`,
/// so a rotated password applies without a cold start (open connections stay valid).
#[derive(Clone)]
#[allow(clippy::large_enum_variant, reason = "one per function instance, built at init")]
pub enum Connection {
    Fixed(tokio_postgres::Config),
    Secret { cache: Arc<SecretCache>, secret_id: String },
}

impl std::fmt::Debug for Connection {
    // The settings hold the password: show where, never how.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Connection::Fixed(config) => {
                write!(f, "Fixed({:?}/{:?})", config.get_hosts(), config.get_dbname().unwrap_or_default())
            }
            Connection::Secret { secret_id, .. } => write!(f, "Secret({secret_id})"),
        }
    }
}

impl Connection {
    /// The settings to open a connection with now.
    pub async fn config(&self) -> Result<tokio_postgres::Config, IndexError> {
        match self {
            Connection::Fixed(config) => Ok(config.clone()),
            Connection::Secret { cache, secret_id } => {
                let text = cache.get(secret_id).await.map_err(|e| match e.name {
                    seams_contracts::ErrorName::Transient => unavailable(e),
                    _ => IndexError::Invalid(e.to_string()),
                })?;
                let secret: DatabaseSecret = serde_json::from_str(&text)
                    .map_err(|e| IndexError::Invalid(format!("{secret_id} is not an RDS secret: {e}")))?;
                Ok(secret.config())
            }
        }
    }
}

/// The JSON Secrets Manager keeps for an RDS database.
#[derive(serde::Deserialize)]
struct DatabaseSecret {
    host: String,
    #[serde(default = "default_port")]
    port: u16,
    username: String,
    password: String,
    #[serde(default)]
    dbname: Option<String>,
}

fn default_port() -> u16 {
    5432
}

impl DatabaseSecret {
    fn config(&self) -> tokio_postgres::Config {
        let mut config = tokio_postgres::Config::new();
        config.host(&self.host).port(self.port).user(&self.username).password(&self.password);
        config.dbname(self.dbname.as_deref().unwrap_or("postgres"));
        config
    }
}

/// A schema name safe to write into SQL.
pub fn valid_schema(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_lowercase() || c == '_')
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        && name.len() <= 63
}

pub(super) fn tls(ca_file: Option<&std::path::Path>) -> Result<tokio_postgres_rustls::MakeRustlsConnect, IndexError> {
    use rustls::pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore { roots: webpki_roots::TLS_SERVER_ROOTS.to_vec() };
    if let Some(path) = ca_file {
        let invalid =
            |e: &dyn std::fmt::Display| IndexError::Invalid(format!("SEAMS_DATABASE_CA_FILE {}: {e}", path.display()));
        let mut added = 0;
        for certificate in rustls::pki_types::CertificateDer::pem_file_iter(path).map_err(|e| invalid(&e))? {
            roots.add(certificate.map_err(|e| invalid(&e))?).map_err(|e| invalid(&e))?;
            added += 1;
        }
        if added == 0 {
            return Err(invalid(&"no PEM certificates in the file"));
        }
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::aws_lc_rs::default_provider()))
        .with_safe_default_protocol_versions()
        .map_err(unavailable)?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(tokio_postgres_rustls::MakeRustlsConnect::new(config))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schema_names_are_checked_before_they_reach_sql() {
        assert!(valid_schema("seams"));
        assert!(valid_schema("seams_test_42"));
        for bad in ["", "Seams", "1abc", "a;drop table x", "a-b", &"x".repeat(64)] {
            assert!(!valid_schema(bad), "{bad}");
        }
    }

    #[test]
    fn an_unusable_ca_file_stops_init_with_its_name() {
        let dir = std::env::temp_dir().join(format!("seams-ca-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let empty = dir.join("empty.pem");
        std::fs::write(&empty, "not a certificate").unwrap();
        for path in [empty, dir.join("missing.pem")] {
            let error = tls(Some(&path)).err().unwrap();
            assert!(error.to_string().contains("SEAMS_DATABASE_CA_FILE"), "{error}");
        }
        assert!(tls(None).is_ok());
    }

    #[test]
    fn the_secret_the_template_makes_for_aurora_opens_its_database() {
        // template.yaml's DatabaseSecret as Secrets Manager holds it once the generated password
        // and DatabaseSecretAttachment's fields (host, port as a number, engine, cluster) are in.
        let template = include_str!("../../../../template.yaml");
        let field = |name: &str| template.lines().find_map(|line| line.trim().strip_prefix(name)).unwrap();
        let mut secret: serde_json::Value =
            serde_json::from_str(field("SecretStringTemplate: ").trim_matches('\'')).unwrap();
        secret["password"] = "generated".into();
        secret["host"] = "seams.cluster-abc.eu-west-1.rds.amazonaws.com".into();
        secret["port"] = 5432.into();
        secret["engine"] = "postgres".into();
        secret["dbClusterIdentifier"] = "seams-databasecluster-1".into();
        let config = serde_json::from_value::<DatabaseSecret>(secret).unwrap().config();
        assert_eq!(config.get_dbname(), Some(field("DatabaseName: ")), "the cluster's database");
        assert_eq!(config.get_user(), Some("seams"));
        assert_eq!(config.get_ports(), [5432]);
        assert_eq!(config.get_password(), Some(&b"generated"[..]));
    }
}
