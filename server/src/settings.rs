//! Server settings, from `initializationOptions` and `workspace/didChangeConfiguration`.
//! A bad value is reported to the user with the field's name; the server keeps its previous
//! settings rather than stopping.

use serde::{Deserialize, Serialize};

use crate::engine::EditSettings;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
pub struct Settings {
    /// `"default"` for the embedded model, or a checkpoint folder.
    pub model: Option<String>,
    /// `"cpu"` or `"cuda"` / `"cuda:N"` (needs a build with the `cuda` feature).
    pub device: String,
    pub edit: EditSettings,
    /// How long a request waits for the model to finish loading, in seconds.
    pub model_wait_seconds: u64,
}

impl Default for Settings {
    fn default() -> Self {
        Self { model: None, device: "cpu".into(), edit: EditSettings::default(), model_wait_seconds: 120 }
    }
}

impl Settings {
    pub fn from_json(value: serde_json::Value) -> Result<Settings, String> {
        // Clients send `null` or `{}` when the user set nothing.
        if value.is_null() {
            return Ok(Settings::default());
        }
        // VS Code nests settings under the extension's section name.
        let value = match value.get("anneal") {
            Some(inner) => inner.clone(),
            None => value,
        };
        serde_json::from_value(value).map_err(|e| format!("invalid Anneal settings: {e}"))
    }

    pub fn device(&self) -> Result<candle_core::Device, String> {
        match self.device.as_str() {
            "cpu" => Ok(candle_core::Device::Cpu),
            d if d.starts_with("cuda") => {
                let ordinal = d.strip_prefix("cuda:").map(str::parse::<usize>).unwrap_or(Ok(0)).map_err(|e| format!("device {d}: {e}"))?;
                candle_core::Device::new_cuda(ordinal).map_err(|e| format!("device {d}: {e}"))
            }
            d => Err(format!("unknown device `{d}` (expected cpu, cuda or cuda:N)")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn partial_settings_keep_defaults() {
        let s = Settings::from_json(json!({"edit": {"blockTokens": 16}})).unwrap();
        assert_eq!(s.edit.block_tokens, 16);
        assert_eq!(s.edit.context_tokens, EditSettings::default().context_tokens);
        assert_eq!(s.device, "cpu");
    }

    #[test]
    fn nested_under_section_and_null() {
        assert_eq!(Settings::from_json(json!({"anneal": {"model": "x"}})).unwrap().model.as_deref(), Some("x"));
        assert_eq!(Settings::from_json(serde_json::Value::Null).unwrap(), Settings::default());
    }

    #[test]
    fn wrong_types_and_unknown_fields_are_named() {
        let e = Settings::from_json(json!({"edit": {"blockTokens": "big"}})).unwrap_err();
        assert!(e.contains("invalid type"), "{e}");
        let e = Settings::from_json(json!({"modle": "x"})).unwrap_err();
        assert!(e.contains("modle"), "{e}");
        assert!(Settings { device: "tpu".into(), ..Default::default() }.device().unwrap_err().contains("tpu"));
    }
}
