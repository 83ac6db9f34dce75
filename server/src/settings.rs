//! Server settings, from `initializationOptions` and `workspace/didChangeConfiguration`.
//! A bad value is reported to the user with the field's name; the server keeps its previous
//! settings rather than stopping.

use anneal_models::Precision;
use serde::{Deserialize, Serialize};

use anneal_engine::EditSettings;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
pub struct Settings {
    /// `"default"` for the embedded model, or a checkpoint folder.
    pub model: Option<String>,
    /// `"cpu"` or `"cuda"` / `"cuda:N"` (needs a build with the `cuda` feature).
    pub device: String,
    /// How the weights are held: `"auto"` (f32 on a CPU, bf16 on a GPU), `"f32"`, `"bf16"`,
    /// `"f16"`, or quantized as they load: `"q8_0"` (8.5 bits a weight, close to f32) or
    /// `"q4k"` (4.5 bits: a 7B checkpoint in about 5 GB). Quantized weights are what a laptop
    /// CPU runs a large checkpoint with.
    pub dtype: String,
    /// `languageId`s Anneal leaves alone: no actions, diagnostics or fills in those documents.
    pub disabled_languages: Vec<String>,
    pub edit: EditSettings,
    /// How long a request waits for the model to finish loading, in seconds.
    pub model_wait_seconds: u64,
    /// Publish syntax errors (tree-sitter) as diagnostics, each with a *Repair* quick fix.
    pub diagnostics: bool,
    pub fill: FillSettings,
    /// Instructions offered as ready code actions ("Anneal: Add docstrings"), when the model
    /// follows instructions.
    pub presets: Vec<String>,
}

/// Fill at the cursor: `textDocument/inlineCompletion`, or a completion item for clients
/// without inline completions.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
pub struct FillSettings {
    pub enabled: bool,
    /// Largest number of tokens one fill writes (it stops earlier where the model ends it).
    pub tokens: usize,
    /// Also fill when the editor asks on its own, as you type (inline completions' automatic
    /// trigger; for completion, every request). Off: only when the user asks for it, since a
    /// fill takes the model for a while.
    pub automatic: bool,
}

impl Default for FillSettings {
    fn default() -> Self {
        Self { enabled: true, tokens: 32, automatic: false }
    }
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            model: None,
            device: "cpu".into(),
            dtype: "auto".into(),
            disabled_languages: vec![],
            edit: EditSettings::default(),
            model_wait_seconds: 120,
            diagnostics: true,
            fill: FillSettings::default(),
            presets: ["Add type annotations", "Add docstrings", "Simplify"].map(String::from).to_vec(),
        }
    }
}

impl Settings {
    /// These settings with every valid key of `value` applied. A bad key is skipped and named in
    /// the error by its whole path (`edit.mask.threshold`), and the good keys beside it still
    /// apply, so one typo does not throw away the user's model folder or the rest of `edit`.
    pub fn merged(&self, value: serde_json::Value) -> (Settings, Option<String>) {
        // VS Code nests settings under the extension's section name.
        let value = match value.get("anneal") {
            Some(inner) => inner.clone(),
            None => value,
        };
        // Clients send `null` when the user set nothing.
        let serde_json::Value::Object(map) = value else {
            if value.is_null() {
                return (self.clone(), None);
            }
            return (self.clone(), Some(format!("invalid Anneal settings: expected an object, got {value}")));
        };
        let mut current = serde_json::to_value(self).expect("settings serialise");
        let mut errors = vec![];
        for (key, v) in map {
            apply(&mut current, &mut vec![key], v, &mut errors);
        }
        let settings = serde_json::from_value(current).expect("only valid keys were applied");
        let error = (!errors.is_empty()).then(|| format!("invalid Anneal settings, ignored: {}", errors.join("; ")));
        (settings, error)
    }

    /// Values serde accepts but the server cannot use; `None` when all are in range.
    pub fn out_of_range(&self) -> Option<String> {
        if !(1..=1024).contains(&self.fill.tokens) {
            return Some("fill.tokens must be 1..=1024".into());
        }
        if let Err(e) = self.dtype() {
            return Some(e);
        }
        self.edit.out_of_range()
    }

    /// The weights' precision: `None` for the device's default.
    pub fn dtype(&self) -> Result<Option<Precision>, String> {
        parse_precision(&self.dtype)
    }

    /// Whether Anneal works on documents of `language_id`.
    pub fn enabled(&self, language_id: &str) -> bool {
        !self.disabled_languages.iter().any(|l| l == language_id)
    }

    pub fn device(&self) -> Result<candle_core::Device, String> {
        parse_device(&self.device)
    }
}

/// `auto` (`None`: the device's default) or a [`Precision`]'s name.
pub fn parse_precision(name: &str) -> Result<Option<Precision>, String> {
    if name == "auto" {
        return Ok(None);
    }
    Precision::parse(name).map(Some).ok_or_else(|| {
        let names: Vec<&str> = Precision::ALL.iter().map(|p| p.name()).collect();
        format!("unknown dtype `{name}` (expected auto, {})", names.join(", "))
    })
}

/// `cpu`, `cuda`, `cuda:N` or `metal`. A GPU device in a build without its cargo feature
/// (`cuda`, `metal`) is an error that says which feature to build with.
pub fn parse_device(name: &str) -> Result<candle_core::Device, String> {
    let ordinal =
        |prefix: &str| name.strip_prefix(prefix).map(str::parse::<usize>).unwrap_or(Ok(0)).map_err(|e| format!("device {name}: {e}"));
    match name {
        "cpu" => Ok(candle_core::Device::Cpu),
        d if d.starts_with("cuda") => candle_core::Device::new_cuda(ordinal("cuda:")?)
            .map_err(|e| format!("device {d}: {e} (a CUDA build needs `cargo build --release --features cuda`)")),
        d if d.starts_with("metal") => candle_core::Device::new_metal(ordinal("metal:")?)
            .map_err(|e| format!("device {d}: {e} (a Metal build needs `cargo build --release --features metal`)")),
        d => Err(format!("unknown device `{d}` (expected cpu, cuda, cuda:N or metal)")),
    }
}

/// Sets `path` of `current` (serialised settings) to `value` if the settings stay valid. An
/// object is applied key by key into the object already there: keys a client leaves out keep
/// their values (`{"fill": {"automatic": true}}` does not reset `fill.tokens`), and an error
/// names the innermost bad key (serde's message names only the type it expected).
fn apply(current: &mut serde_json::Value, path: &mut Vec<String>, value: serde_json::Value, errors: &mut Vec<String>) {
    // Every prefix of `path` is an object in `current` (that is how the recursion got here), so
    // indexing inserts the last key rather than panicking.
    let existing = path.iter().try_fold(&*current, |v, k| v.get(k.as_str()));
    if let (serde_json::Value::Object(map), Some(serde_json::Value::Object(_))) = (&value, existing) {
        for (key, v) in map.clone() {
            path.push(key);
            apply(current, path, v, errors);
            path.pop();
        }
        return;
    }
    let mut candidate = current.clone();
    let slot = path.iter().fold(&mut candidate, |v, k| &mut v[k.as_str()]);
    *slot = value;
    let parsed = serde_json::from_value::<Settings>(candidate.clone()).map_err(|e| e.to_string());
    match parsed.and_then(|s| s.out_of_range().map_or(Ok(()), Err)) {
        Ok(()) => *current = candidate,
        Err(e) => errors.push(format!("`{}`: {e}", path.join("."))),
    }
}

#[cfg(test)]
mod tests {
    /// The settings are described in three more places than this file: the VS Code schema
    /// (`package.json`), Neovim's help and the README. Every key of [`Settings`], nested ones
    /// included, must appear in each, and where the schema states a default it must be the
    /// server's, so that no place drifts when a setting is added or changed.
    #[test]
    fn every_setting_is_documented_in_each_place_with_the_servers_default() {
        let schema: serde_json::Value = serde_json::from_str(include_str!("../../editors/vscode/package.json")).unwrap();
        let properties = &schema["contributes"]["configuration"]["properties"];
        let nvim_doc = include_str!("../../editors/nvim/doc/anneal.txt");
        let vscode_readme = include_str!("../../editors/vscode/README.md");
        let defaults = serde_json::to_value(Settings::default()).unwrap();
        let mut missing = vec![];
        // (path for messages, the default, the schema entry if any)
        fn walk<'a>(
            path: String,
            value: &'a serde_json::Value,
            schema: Option<&'a serde_json::Value>,
            out: &mut Vec<(String, &'a serde_json::Value, Option<&'a serde_json::Value>)>,
        ) {
            out.push((path.clone(), value, schema));
            if let Some(object) = value.as_object() {
                for (key, inner) in object {
                    let entry = schema.and_then(|s| s["properties"].get(key));
                    walk(format!("{path}.{key}"), inner, entry, out);
                }
            }
        }
        let mut all = vec![];
        for (key, value) in defaults.as_object().unwrap() {
            walk(key.clone(), value, properties.get(format!("anneal.{key}")), &mut all);
        }
        for (path, default, entry) in &all {
            let leaf = path.rsplit('.').next().unwrap();
            let Some(entry) = entry else {
                missing.push(format!("{path}: not in the VS Code schema"));
                continue;
            };
            // A server default of null (the embedded model) may be stated by what it means.
            let stated = entry.get("default").filter(|d| !d.as_object().is_some_and(|o| o.is_empty()) && !default.is_null());
            if let Some(stated) = stated {
                let same = match (stated.as_f64(), default.as_f64()) {
                    // f32 defaults serialise with f32's rounding (0.9 → 0.8999999761581421).
                    (Some(a), Some(b)) => (a - b).abs() <= 1e-6 * a.abs().max(1.0),
                    _ => stated == *default,
                };
                if !same {
                    missing.push(format!("{path}: the VS Code schema says {stated}, the server {default}"));
                }
            }
            if !nvim_doc.contains(leaf) {
                missing.push(format!("{path}: not in editors/nvim/doc/anneal.txt"));
            }
            if !vscode_readme.contains(leaf) {
                missing.push(format!("{path}: not in editors/vscode/README.md"));
            }
        }
        // The extension sends only the keys it knows (`SERVER_DEFAULTS` in settings.ts).
        let extension = include_str!("../../editors/vscode/src/settings.ts");
        for key in defaults.as_object().unwrap().keys() {
            if !extension.contains(&format!("  {key}:")) {
                missing.push(format!("{key}: not sent by the VS Code extension (SERVER_DEFAULTS in settings.ts)"));
            }
        }
        assert!(missing.is_empty(), "settings out of step:\n{}", missing.join("\n"));
    }

    use super::*;
    use anneal_models::mask_sampler::KvReuse;
    use serde_json::json;

    #[test]
    fn partial_settings_keep_defaults() {
        let (s, e) = Settings::default().merged(json!({"edit": {"blockTokens": 16}}));
        assert!(e.is_none());
        assert_eq!(s.edit.block_tokens, 16);
        assert_eq!(s.edit.context_tokens, EditSettings::default().context_tokens);
        assert_eq!(s.device, "cpu");
    }

    #[test]
    fn nested_keys_left_out_keep_their_values() {
        let (s, _) = Settings::default().merged(json!({"fill": {"tokens": 16}, "edit": {"mask": {"maxSteps": 3}}}));
        let (s, e) = s.merged(
            json!({"fill": {"automatic": true}, "edit": {"mask": {"threshold": 0.5, "cache": "dual"}, "edit": {"cache": "prefix"}}}),
        );
        assert!(e.is_none());
        assert_eq!((s.fill.tokens, s.fill.automatic), (16, true));
        assert_eq!((s.edit.mask.max_steps, s.edit.mask.threshold), (3, 0.5));
        assert_eq!((s.edit.mask.cache, s.edit.edit.cache), (KvReuse::Dual, KvReuse::Prefix));
    }

    #[test]
    fn nested_under_section_and_null() {
        assert_eq!(Settings::default().merged(json!({"anneal": {"model": "x"}})).0.model.as_deref(), Some("x"));
        assert_eq!(Settings::default().merged(serde_json::Value::Null), (Settings::default(), None));
    }

    #[test]
    fn a_bad_key_keeps_the_good_ones() {
        let (s, e) = Settings::default().merged(json!({"model": "/ckpt", "edit": {"maxSteps": 8}}));
        assert_eq!(s.model.as_deref(), Some("/ckpt"));
        assert_eq!(s.edit, EditSettings::default());
        let e = e.unwrap();
        assert!(e.contains("`edit.maxSteps`"), "{e}");
        let (s2, e) = s.merged(json!({"device": "cuda"}));
        assert!(e.is_none());
        assert_eq!((s2.model.as_deref(), s2.device.as_str()), (Some("/ckpt"), "cuda"));
    }

    #[test]
    fn nested_keys_are_named_by_path_and_their_neighbours_kept() {
        let (s, e) =
            Settings::default().merged(json!({"edit": {"retries": 1, "slack": "lots", "mask": {"maxSteps": 4, "threshold": [0.5]}}}));
        assert_eq!((s.edit.retries, s.edit.mask.max_steps), (1, 4));
        assert_eq!((s.edit.slack, s.edit.mask.threshold), (EditSettings::default().slack, EditSettings::default().mask.threshold));
        let e = e.unwrap();
        assert!(e.contains("`edit.slack`: invalid type") && e.contains("`edit.mask.threshold`: invalid type"), "{e}");
        // A value that is not an object where an object belongs is named where it is.
        let e = Settings::default().merged(json!({"edit": 3})).1.unwrap();
        assert!(e.contains("`edit`: invalid type"), "{e}");
    }

    #[test]
    fn wrong_types_and_unknown_fields_are_named() {
        let e = Settings::default().merged(json!({"edit": {"blockTokens": "big"}})).1.unwrap();
        assert!(e.contains("invalid type"), "{e}");
        let e = Settings::default().merged(json!({"modle": "x"})).1.unwrap();
        assert!(e.contains("modle"), "{e}");
        assert!(Settings { device: "tpu".into(), ..Default::default() }.device().unwrap_err().contains("tpu"));
        let (s, e) = Settings::default().merged(json!({"dtype": "fp8", "disabledLanguages": ["markdown"]}));
        assert!(e.unwrap().contains("`dtype`: unknown dtype `fp8`"));
        assert_eq!((s.dtype.as_str(), s.enabled("markdown"), s.enabled("python")), ("auto", false, true));
    }

    #[test]
    fn values_out_of_range_are_named_and_the_old_value_stays() {
        let (s, e) = Settings::default().merged(json!({"edit": {"blockTokens": 0, "maxCanvasTokens": 1_000_000, "contextTokens": 10}}));
        let e = e.unwrap();
        assert!(e.contains("`edit.blockTokens`") && e.contains("1..=4096"), "{e}");
        assert!(e.contains("`edit.maxCanvasTokens`"), "{e}");
        assert_eq!(s.edit.block_tokens, EditSettings::default().block_tokens);
        assert_eq!(s.edit.max_canvas_tokens, EditSettings::default().max_canvas_tokens);
        assert_eq!(s.edit.context_tokens, 10, "a valid key beside bad ones still applies");
        let e = Settings::default().merged(json!({"edit": {"mask": {"threshold": 1.5}}})).1.unwrap();
        assert!(e.contains("`edit.mask.threshold`"), "{e}");
        let (s, e) = Settings::default().merged(json!({"edit": {"repair": "guess"}}));
        let e = e.unwrap();
        assert!(e.contains("search") && e.contains("locate") && e.contains("off"), "an unknown repair mode names the choices: {e}");
        assert_eq!(s.edit.repair, anneal_engine::repair::RepairMode::Search);
        assert_eq!(
            Settings::default().merged(json!({"edit": {"repair": "locate"}})).0.edit.repair,
            anneal_engine::repair::RepairMode::Locate
        );
        let (s, e) = Settings::default().merged(json!({"edit": {"edit": {"deleteThreshold": -0.1}}}));
        assert!(e.unwrap().contains("edit.deleteThreshold must be 0..=1"));
        assert_eq!(s.edit.edit.delete_threshold, EditSettings::default().edit.delete_threshold);
        let (s, e) = Settings::default().merged(json!({"fill": {"tokens": 0, "automatic": true}}));
        assert!(e.unwrap().contains("`fill.tokens`"));
        assert_eq!((s.fill.tokens, s.fill.automatic), (FillSettings::default().tokens, true));
    }
}
