//! Prompting instruct checkpoints: the chat template a checkpoint ships (Jinja, in
//! `tokenizer_config.json` or `chat_template.jinja`), rendered as `transformers`'
//! `apply_chat_template` renders it, so the model sees the exact format it was tuned on.
//!
//! Rendering follows transformers' environment: `trim_blocks` and `lstrip_blocks`, loop
//! controls, `raise_exception`, Python string methods (`.startswith`, `.strip`, …) and the
//! special tokens of `tokenizer_config.json` as variables.

use std::path::Path;

use anyhow::{anyhow, Context, Result};
use serde::Serialize;

pub const TOKENIZER_CONFIG_FILE: &str = "tokenizer_config.json";
pub const CHAT_TEMPLATE_FILE: &str = "chat_template.jinja";

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Message {
    pub role: String,
    pub content: String,
}

impl Message {
    pub fn new(role: &str, content: &str) -> Message {
        Message { role: role.into(), content: content.into() }
    }
}

/// A checkpoint's chat template with the special tokens it refers to.
#[derive(Clone, Debug)]
pub struct ChatTemplate {
    source: String,
    bos_token: String,
    eos_token: String,
    pad_token: String,
}

impl ChatTemplate {
    /// The template of a checkpoint folder, if it has one: `chat_template.jinja`, else the
    /// `chat_template` of `tokenizer_config.json` (a string, or named templates of which the
    /// `default` one is used). `None` for a base model.
    pub fn from_dir(dir: &Path) -> Result<Option<ChatTemplate>> {
        let config_path = dir.join(TOKENIZER_CONFIG_FILE);
        let config: serde_json::Value = match std::fs::read_to_string(&config_path) {
            Ok(text) => serde_json::from_str(&text).with_context(|| format!("cannot parse {}", config_path.display()))?,
            Err(_) => serde_json::Value::Null,
        };
        let jinja = dir.join(CHAT_TEMPLATE_FILE);
        let source = if jinja.is_file() {
            Some(std::fs::read_to_string(&jinja).with_context(|| format!("cannot read {}", jinja.display()))?)
        } else {
            template_in_config(&config)
        };
        source.map(|s| ChatTemplate::new(s, &config)).transpose()
    }

    /// `config`: the `tokenizer_config.json` whose special tokens the template may use.
    pub fn new(source: String, config: &serde_json::Value) -> Result<ChatTemplate> {
        let token = |key: &str| match &config[key] {
            serde_json::Value::String(s) => s.clone(),
            serde_json::Value::Object(o) => o.get("content").and_then(|c| c.as_str()).unwrap_or_default().to_string(),
            _ => String::new(),
        };
        let template = ChatTemplate { source, bos_token: token("bos_token"), eos_token: token("eos_token"), pad_token: token("pad_token") };
        template.environment()?; // a template that does not compile is reported at load time
        Ok(template)
    }

    /// The template's Jinja text, as the checkpoint has it (what a GGUF file stores).
    pub fn source(&self) -> &str {
        &self.source
    }

    fn environment(&self) -> Result<minijinja::Environment<'static>> {
        let mut env = minijinja::Environment::new();
        let syntax = minijinja::syntax::SyntaxConfig::builder().trim_blocks(true).lstrip_blocks(true).build()?;
        env.set_syntax(syntax);
        env.set_unknown_method_callback(minijinja_contrib::pycompat::unknown_method_callback);
        env.add_function("raise_exception", |message: String| -> Result<String, minijinja::Error> {
            Err(minijinja::Error::new(minijinja::ErrorKind::InvalidOperation, message))
        });
        env.add_template_owned("chat", self.source.clone()).map_err(|e| anyhow!("the chat template does not compile: {e}"))?;
        Ok(env)
    }

    /// The prompt for `messages`; with `add_generation_prompt`, ending where the assistant's
    /// answer begins.
    pub fn render(&self, messages: &[Message], add_generation_prompt: bool) -> Result<String> {
        let env = self.environment()?;
        let template = env.get_template("chat")?;
        template
            .render(minijinja::context! {
                messages => minijinja::value::Serde(messages),
                add_generation_prompt => add_generation_prompt,
                bos_token => &self.bos_token,
                eos_token => &self.eos_token,
                pad_token => &self.pad_token,
            })
            .map_err(|e| anyhow!("cannot render the chat template: {e}"))
    }
}

fn template_in_config(config: &serde_json::Value) -> Option<String> {
    match &config["chat_template"] {
        serde_json::Value::String(s) => Some(s.clone()),
        serde_json::Value::Array(named) => {
            named.iter().find(|t| t["name"] == "default").or(named.first()).and_then(|t| t["template"].as_str()).map(str::to_string)
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CHATML: &str = "{% for m in messages %}{% if loop.first and m.role != 'system' %}<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n{% endif %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}";

    #[test]
    fn renders_chatml_with_a_generation_prompt() {
        let t = ChatTemplate::new(CHATML.into(), &serde_json::Value::Null).unwrap();
        let out = t.render(&[Message::new("user", "Add types")], true).unwrap();
        assert_eq!(
            out,
            "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\nAdd types<|im_end|>\n<|im_start|>assistant\n"
        );
        assert!(!t.render(&[Message::new("user", "x")], false).unwrap().ends_with("assistant\n"));
    }

    #[test]
    fn special_tokens_python_methods_and_exceptions() {
        let config = serde_json::json!({"bos_token": {"content": "<s>"}, "eos_token": "</s>"});
        let source = "{{ bos_token }}{% for m in messages %}{% if not m.content.startswith('#') %}{{ raise_exception('no') }}{% endif %}{{ m.content.strip() }}{{ eos_token }}{% endfor %}";
        let t = ChatTemplate::new(source.into(), &config).unwrap();
        assert_eq!(t.render(&[Message::new("user", "# hi  ")], false).unwrap(), "<s># hi</s>");
        let err = t.render(&[Message::new("user", "hi")], false).unwrap_err().to_string();
        assert!(err.contains("no"), "{err}");
    }

    #[test]
    fn a_broken_template_is_an_error_at_load() {
        let err = ChatTemplate::new("{% for m in messages %}".into(), &serde_json::Value::Null).unwrap_err();
        assert!(err.to_string().contains("does not compile"), "{err}");
    }

    #[test]
    fn named_templates_use_the_default_one() {
        let config = serde_json::json!({"chat_template": [{"name": "tool_use", "template": "T"}, {"name": "default", "template": "D"}]});
        assert_eq!(template_in_config(&config).as_deref(), Some("D"));
    }
}
