//! Which providers and backends the local stack uses. Every service reads the same
//! `SEAMS_*` variables it reads when deployed, gathered in this order (later wins): the
//! embedded defaults, `seams.toml`, the environment, the command's flags. So `--model
//! bedrock` or `SEAMS_MODEL_PROVIDER=bedrock` or `model = "bedrock"` in seams.toml all
//! select Bedrock, and a user's real credentials and endpoints are used when they have them.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

/// The local-only variable naming the search backend: `sqlite` (the embedded index in the
/// data directory) or a PostgreSQL URL.
pub const SEARCH_VAR: &str = "SEAMS_SEARCH";

/// `seams.toml`: the common choices by name, and any other variable under `[env]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    /// offline, bedrock, openai or anthropic (SEAMS_MODEL_PROVIDER).
    pub model: Option<String>,
    /// The provider's model id (SEAMS_MODEL_ID).
    pub model_id: Option<String>,
    /// hashing, local, bedrock or openai (SEAMS_EMBEDDER).
    pub embedder: Option<String>,
    /// sqlite or postgres://… (SEAMS_SEARCH).
    pub search: Option<String>,
    #[serde(default)]
    pub env: BTreeMap<String, String>,
}

/// The same choices from flags.
#[derive(Debug, Default, Clone)]
pub struct Choices {
    pub model: Option<String>,
    pub model_id: Option<String>,
    pub embedder: Option<String>,
    pub search: Option<String>,
}

impl Choices {
    fn variables(&self) -> impl Iterator<Item = (&'static str, &String)> {
        [
            ("SEAMS_MODEL_PROVIDER", &self.model),
            ("SEAMS_MODEL_ID", &self.model_id),
            ("SEAMS_EMBEDDER", &self.embedder),
            (SEARCH_VAR, &self.search),
        ]
        .into_iter()
        .filter_map(|(name, value)| value.as_ref().map(|v| (name, v)))
    }
}

/// Every variable the services will read.
pub fn variables(
    file: Option<&Path>,
    environment: impl IntoIterator<Item = (String, String)>,
    flags: &Choices,
) -> Result<BTreeMap<String, String>, String> {
    let mut variables = BTreeMap::new();
    let explicit = file.is_some();
    let path = file.unwrap_or(Path::new("seams.toml"));
    match std::fs::read_to_string(path) {
        Ok(text) => {
            let parsed: FileConfig = toml::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
            let named = Choices {
                model: parsed.model,
                model_id: parsed.model_id,
                embedder: parsed.embedder,
                search: parsed.search,
            };
            variables.extend(parsed.env);
            variables.extend(named.variables().map(|(k, v)| (k.to_owned(), v.clone())));
        }
        Err(e) if explicit || e.kind() != std::io::ErrorKind::NotFound => {
            return Err(format!("cannot read {}: {e}", path.display()))
        }
        Err(_) => {}
    }
    variables.extend(environment.into_iter().filter(|(k, _)| k.starts_with("SEAMS_") || k.starts_with("AWS_")));
    variables.extend(flags.variables().map(|(k, v)| (k.to_owned(), v.clone())));
    // The local model is where scripts/setup.sh installed it, unless SEAMS_MODEL_DIR says.
    if variables.get("SEAMS_EMBEDDER").is_some_and(|e| e == "local") && !variables.contains_key("SEAMS_MODEL_DIR") {
        if let Some(dir) = installed_model() {
            variables.insert("SEAMS_MODEL_DIR".into(), dir.to_string_lossy().into_owned());
        }
    }
    Ok(variables)
}

/// The embedder when nobody chose one: the local model once scripts/setup.sh installed it,
/// unless the data directory's index was built with another (`index_model`), which is
/// kept; the hashing embedder otherwise. Returns why, for the user.
pub fn default_embedder(variables: &mut BTreeMap<String, String>, index_model: Option<&str>) -> Option<String> {
    if variables.contains_key("SEAMS_EMBEDDER") {
        return None;
    }
    let dir = variables.get("SEAMS_MODEL_DIR").map(PathBuf::from).or_else(installed_model);
    let Some(dir) = dir.filter(|dir| dir.join("model.safetensors").is_file()) else {
        return Some(
            "the local model is not installed (`scripts/setup.sh model` installs it): embedding with the hashing embedder"
                .into(),
        );
    };
    match index_model {
        Some(model) if model != seams_embeddings::local_model::MODEL_NAME => Some(format!(
            "this data directory's index holds {model} vectors, so the local model is not used (--embedder local with a new --data-dir uses it)"
        )),
        _ => {
            variables.insert("SEAMS_EMBEDDER".into(), "local".into());
            variables.insert("SEAMS_MODEL_DIR".into(), dir.to_string_lossy().into_owned());
            None
        }
    }
}

/// Where scripts/setup.sh installs the local model: `.tools/models` in this checkout.
pub const INSTALLED_MODEL: &str = ".tools/models/all-MiniLM-L6-v2";

fn installed_model() -> Option<PathBuf> {
    [PathBuf::from(INSTALLED_MODEL), Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(INSTALLED_MODEL)]
        .into_iter()
        .find(|dir| dir.join("model.safetensors").is_file())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_beat_the_environment_which_beats_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("seams.toml");
        std::fs::write(
            &file,
            "model = \"openai\"\nmodel_id = \"from-file\"\nsearch = \"sqlite\"\n[env]\nSEAMS_MODEL_BASE_URL = \"http://file\"\n",
        )
        .unwrap();
        let environment = [("SEAMS_MODEL_ID".to_owned(), "from-env".to_owned()), ("HOME".to_owned(), "/x".to_owned())];
        let flags = Choices { search: Some("postgres://db/seams".into()), ..Choices::default() };
        let variables = variables(Some(&file), environment, &flags).unwrap();
        assert_eq!(variables["SEAMS_MODEL_PROVIDER"], "openai");
        assert_eq!(variables["SEAMS_MODEL_ID"], "from-env");
        assert_eq!(variables["SEAMS_MODEL_BASE_URL"], "http://file");
        assert_eq!(variables[SEARCH_VAR], "postgres://db/seams");
        assert!(!variables.contains_key("HOME"), "only the services' variables");
    }

    #[test]
    fn the_local_model_is_the_default_once_installed_unless_the_index_holds_other_vectors() {
        let installed = tempfile::tempdir().unwrap();
        std::fs::write(installed.path().join("model.safetensors"), b"weights").unwrap();
        let missing = tempfile::tempdir().unwrap();
        let with_dir = |dir: &Path| BTreeMap::from([("SEAMS_MODEL_DIR".to_owned(), dir.display().to_string())]);

        let mut variables = with_dir(installed.path());
        assert_eq!(default_embedder(&mut variables, None), None);
        assert_eq!(variables["SEAMS_EMBEDDER"], "local");
        let mut variables = with_dir(installed.path());
        assert_eq!(default_embedder(&mut variables, Some("all-MiniLM-L6-v2-local")), None, "the same model");
        assert_eq!(variables["SEAMS_EMBEDDER"], "local");

        let mut variables = with_dir(installed.path());
        let kept = default_embedder(&mut variables, Some("seams-hashing-v1-384")).unwrap();
        assert!(kept.contains("seams-hashing-v1-384") && !variables.contains_key("SEAMS_EMBEDDER"), "{kept}");
        let mut variables = with_dir(missing.path());
        let hashing = default_embedder(&mut variables, None).unwrap();
        assert!(hashing.contains("scripts/setup.sh") && !variables.contains_key("SEAMS_EMBEDDER"), "{hashing}");

        let mut chosen = with_dir(installed.path());
        chosen.insert("SEAMS_EMBEDDER".into(), "hashing".into());
        assert_eq!(default_embedder(&mut chosen, None), None);
        assert_eq!(chosen["SEAMS_EMBEDDER"], "hashing", "a choice is never overridden");
    }

    #[test]
    fn a_named_file_must_exist_and_parse() {
        assert!(variables(Some(Path::new("/no/such/seams.toml")), [], &Choices::default())
            .unwrap_err()
            .contains("cannot read"));
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("seams.toml");
        std::fs::write(&file, "modle = \"typo\"").unwrap();
        assert!(variables(Some(&file), [], &Choices::default()).unwrap_err().contains("unknown field `modle`"));
    }
}
