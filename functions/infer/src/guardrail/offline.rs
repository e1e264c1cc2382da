//! The guardrail that needs no service: the operator's deny-list (always blocks) and personal
//! data ([`super::pii`]: block, mask or allow).

use async_trait::async_trait;
use regex::{Regex, RegexBuilder};
use seams_contracts::guardrail::GuardrailStage;
use seams_platform::ServiceError;

use super::{pii, Assessment, Guardrail, GuardrailSettings, PiiAction};

pub const DENY_LIST_POLICY: &str = "deny_list";

pub struct OfflineGuardrail {
    /// An error when the deny-list is too large to compile: every check then fails (closed).
    deny: Result<Option<Regex>, String>,
    pii: PiiAction,
}

impl OfflineGuardrail {
    pub fn new(settings: &GuardrailSettings) -> Self {
        Self { deny: deny_pattern(&settings.deny_list).map_err(|e| e.to_string()), pii: settings.pii }
    }
}

/// One case-blind pattern for the whole list. Whole words only ("class" must not block
/// "classic"); whitespace inside a phrase matches any run of whitespace.
pub fn deny_pattern(deny_list: &[String]) -> Result<Option<Regex>, regex::Error> {
    let phrases: Vec<String> = deny_list
        .iter()
        .map(|p| p.split_whitespace().map(regex::escape).collect::<Vec<_>>().join(r"\s+"))
        .filter(|p| !p.is_empty())
        .collect();
    if phrases.is_empty() {
        return Ok(None);
    }
    RegexBuilder::new(&format!(r"\b(?:{})\b", phrases.join("|"))).case_insensitive(true).build().map(Some)
}

#[async_trait]
impl Guardrail for OfflineGuardrail {
    fn name(&self) -> &'static str {
        "offline"
    }

    async fn assess(&self, _stage: GuardrailStage, text: &str) -> Result<Assessment, ServiceError> {
        match &self.deny {
            Ok(deny) => Ok(assess(deny.as_ref(), self.pii, text)),
            Err(error) => Err(ServiceError::invalid_input("SEAMS_GUARDRAIL_DENY_LIST", error.clone())),
        }
    }
}

fn assess(deny: Option<&Regex>, pii: PiiAction, text: &str) -> Assessment {
    let mut blocked = Vec::new();
    if deny.is_some_and(|deny| deny.is_match(text)) {
        blocked.push(DENY_LIST_POLICY.to_owned());
    }
    let findings = if pii == PiiAction::Allow { Vec::new() } else { pii::find(text) };
    let mut policies: Vec<String> = Vec::new();
    for finding in &findings {
        let policy = finding.kind.policy().to_owned();
        if !policies.contains(&policy) {
            policies.push(policy);
        }
    }
    if pii == PiiAction::Block {
        blocked.append(&mut policies);
    }
    match (blocked.is_empty(), policies.is_empty()) {
        (false, _) => Assessment::Blocked { policies: blocked },
        (true, true) => Assessment::Passed,
        (true, false) => Assessment::Masked { text: pii::mask(text, &findings), policies },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn guardrail(deny: &[&str], pii: PiiAction) -> impl Fn(&str) -> Assessment {
        let list: Vec<String> = deny.iter().map(|s| s.to_string()).collect();
        let pattern = deny_pattern(&list).unwrap();
        move |text| assess(pattern.as_ref(), pii, text)
    }

    #[test]
    fn the_deny_list_matches_whole_words_and_phrases_case_blind() {
        let g = guardrail(&["class action", "lawsuit", "a.b"], PiiAction::Allow);
        let blocked = |text| g(text) == Assessment::Blocked { policies: vec![DENY_LIST_POLICY.into()] };
        assert!(blocked("Is there a CLASS  ACTION against you?"));
        assert!(blocked("lawsuit!"));
        assert!(blocked("what about a.b?"), "phrases are literal text, not patterns");
        assert!(!blocked("lawsuits"), "a longer word is another word");
        assert!(!blocked("a classic action film"));
        assert!(!blocked("axb"), "the dot is not a wildcard");
    }

    #[test]
    fn personal_data_is_blocked_masked_or_allowed_as_configured() {
        let text = "my card is 4111 1111 1111 1111";
        assert_eq!(
            guardrail(&[], PiiAction::Block)(text),
            Assessment::Blocked { policies: vec!["pii.card_number".into()] }
        );
        assert_eq!(
            guardrail(&[], PiiAction::Mask)(text),
            Assessment::Masked {
                text: "my card is {CREDIT_DEBIT_CARD_NUMBER}".into(),
                policies: vec!["pii.card_number".into()]
            }
        );
        assert_eq!(guardrail(&[], PiiAction::Allow)(text), Assessment::Passed);
    }

    #[test]
    fn a_denied_word_blocks_even_when_personal_data_would_only_be_masked() {
        let assessment = guardrail(&["lawsuit"], PiiAction::Mask)("lawsuit: mail me at x@y.com");
        assert_eq!(assessment, Assessment::Blocked { policies: vec![DENY_LIST_POLICY.into()] });
    }
}
