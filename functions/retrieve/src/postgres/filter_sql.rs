//! Metadata filters as SQL conditions, every value a bind parameter.

use serde_json::Value;
use tokio_postgres::types::ToSql;

use crate::filter::{Predicate, Test};

/// Bind parameters, numbered as they are added.
#[derive(Default)]
pub(super) struct Params(Vec<Box<dyn ToSql + Sync + Send>>);

impl Params {
    pub(super) fn add(&mut self, value: impl ToSql + Sync + Send + 'static) -> String {
        self.0.push(Box::new(value));
        format!("${}", self.0.len())
    }

    pub(super) fn refs(&self) -> Vec<&(dyn ToSql + Sync)> {
        self.0.iter().map(|p| p.as_ref() as &(dyn ToSql + Sync)).collect()
    }
}

/// The SQL condition `predicate` becomes and how many values it binds: what a query sends
/// PostgreSQL, for the fuzz target that checks no caller's text is ever part of the SQL.
pub fn filter_condition(predicate: &Predicate) -> (String, usize) {
    let mut params = Params::default();
    let sql = filter_sql(predicate, &mut params);
    (sql, params.0.len())
}

/// The predicate as a SQL condition on `metadata` (jsonb), meaning what
/// [`Predicate::matches`] means: jsonb equality compares numbers numerically, and every
/// test is `coalesce(.., false)` so a missing attribute never turns a result into NULL.
pub(super) fn filter_sql(predicate: &Predicate, params: &mut Params) -> String {
    match predicate {
        Predicate::All(parts) if parts.is_empty() => "true".into(),
        Predicate::Any(parts) if parts.is_empty() => "false".into(),
        Predicate::All(parts) => {
            format!("({})", parts.iter().map(|p| filter_sql(p, params)).collect::<Vec<_>>().join(" AND "))
        }
        Predicate::Any(parts) => {
            format!("({})", parts.iter().map(|p| filter_sql(p, params)).collect::<Vec<_>>().join(" OR "))
        }
        Predicate::Attribute { key, test } => {
            let attribute = format!("(metadata -> {})", params.add(key.clone()));
            let condition = match test {
                Test::Equals(value) => format!("{attribute} = {}::jsonb", params.add(value.to_json())),
                Test::NotEquals(value) => format!("{attribute} IS DISTINCT FROM {}::jsonb", params.add(value.to_json())),
                Test::Compare(comparison, value) => format!(
                    "CASE WHEN jsonb_typeof({attribute}) = 'number' THEN ({attribute} #>> '{{}}')::float8 {} {}::float8 ELSE false END",
                    comparison.sql(),
                    params.add(*value)
                ),
                Test::In(values) => format!(
                    "{attribute} IN (SELECT jsonb_array_elements({}::jsonb))",
                    params.add(Value::Array(values.iter().map(|v| v.to_json()).collect()))
                ),
                Test::NotIn(values) => format!(
                    "NOT coalesce({attribute} IN (SELECT jsonb_array_elements({}::jsonb)), false)",
                    params.add(Value::Array(values.iter().map(|v| v.to_json()).collect()))
                ),
                Test::StartsWith(prefix) => format!(
                    "CASE WHEN jsonb_typeof({attribute}) = 'string' THEN starts_with({attribute} #>> '{{}}', {}::text) ELSE false END",
                    params.add(prefix.clone())
                ),
                Test::ListContains(value) => format!(
                    "CASE WHEN jsonb_typeof({attribute}) = 'array' THEN {attribute} @> jsonb_build_array({}::jsonb) ELSE false END",
                    params.add(value.to_json())
                ),
                Test::StringContains(needle) => {
                    let needle = params.add(needle.clone());
                    format!(
                        "CASE jsonb_typeof({attribute})
                           WHEN 'string' THEN strpos({attribute} #>> '{{}}', {needle}::text) > 0
                           WHEN 'array' THEN EXISTS (SELECT 1 FROM jsonb_array_elements({attribute}) m
                                                     WHERE jsonb_typeof(m) = 'string' AND strpos(m #>> '{{}}', {needle}::text) > 0)
                           ELSE false END"
                    )
                }
            };
            format!("coalesce({condition}, false)")
        }
    }
}
