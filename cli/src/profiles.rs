//! Connection profiles (`sfrest cluster select` / `show`), as `sfctl cluster select` keeps
//! them: in `$XDG_CONFIG_HOME/sfrest/profiles.json`, else `~/.config/sfrest/profiles.json`.
//! Every command uses the default profile, or `--profile NAME` / `SF_PROFILE`, for what its
//! flags and `SF_*` variables leave unsaid. No secret is stored: a PFX password or a token
//! is asked for or read from its variable each time (`--token-cmd` may be stored).

use std::{collections::BTreeMap, path::PathBuf, sync::OnceLock};

use serde_json::{Value, json};

use clap::Subcommand;
use servicefabric_emulator::Emulator;

use crate::{
    Target, connect_to,
    output::{Failure, note, out},
};

/// The `--profile` given on the command line (or `SF_PROFILE`).
static SELECTED: OnceLock<Option<String>> = OnceLock::new();

/// Records `--profile` (once, at start).
pub fn select(name: Option<String>) {
    let _ = SELECTED.set(name);
}

fn selected() -> Option<String> {
    SELECTED.get().cloned().flatten()
}

/// Where profiles are kept.
pub fn file() -> Option<PathBuf> {
    let base = std::env::var_os("XDG_CONFIG_HOME")
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config")))?;
    Some(base.join("sfrest").join("profiles.json"))
}

/// The saved profiles and the default one's name.
#[derive(Default)]
pub struct Profiles {
    pub default: Option<String>,
    pub profiles: BTreeMap<String, Value>,
}

impl Profiles {
    pub fn load() -> Result<Self, Failure> {
        let Some(path) = file() else {
            return Ok(Self::default());
        };
        let Ok(bytes) = std::fs::read(&path) else {
            return Ok(Self::default());
        };
        let value: Value = serde_json::from_slice(&bytes).map_err(|e| {
            Failure::Usage(format!(
                "{}: not a profiles file ({e}); fix or remove it",
                path.display()
            ))
        })?;
        let profiles = value["profiles"]
            .as_object()
            .map(|m| m.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
            .unwrap_or_default();
        Ok(Self {
            default: value["default"].as_str().map(str::to_string),
            profiles,
        })
    }

    pub fn save(&self) -> Result<PathBuf, Failure> {
        let path = file().ok_or_else(|| {
            Failure::Usage("no config directory: set XDG_CONFIG_HOME or HOME".into())
        })?;
        let write = || -> std::io::Result<()> {
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir)?;
            }
            let tmp = path.with_extension("json.tmp");
            std::fs::write(
                &tmp,
                serde_json::to_vec_pretty(
                    &json!({"default": self.default, "profiles": self.profiles}),
                )
                .unwrap_or_default(),
            )?;
            std::fs::rename(&tmp, &path)
        };
        write().map_err(|e| Failure::Usage(format!("cannot write {} ({e})", path.display())))?;
        Ok(path)
    }

    /// The profile commands use: `--profile`/`SF_PROFILE`, else the default one.
    pub fn in_use(&self) -> Result<Option<(String, &Value)>, Failure> {
        match selected() {
            Some(name) => match self.profiles.get(&name) {
                Some(profile) => Ok(Some((name, profile))),
                None => Err(Failure::Usage(format!(
                    "no profile {name:?}: the saved ones are {:?} (save one with `sfrest cluster select --profile {name} --endpoint URL`)",
                    self.profiles.keys().collect::<Vec<_>>()
                ))),
            },
            None => Ok(self
                .default
                .as_ref()
                .and_then(|name| self.profiles.get(name).map(|p| (name.clone(), p)))),
        }
    }
}

/// The profile name `cluster select` saves under.
pub fn selected_or_default() -> String {
    selected().unwrap_or_else(|| "default".to_string())
}

#[derive(Subcommand)]
pub enum ClusterCommand {
    /// Save the connection options as a profile (the one --profile names, else "default")
    /// and make it the default: later commands use it for what they leave unsaid. No secret
    /// is saved; a token comes from SF_TOKEN or --token-cmd each time.
    Select {
        #[command(flatten)]
        target: Target,
    },
    /// The saved profiles; the default one is marked.
    Show {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

/// `sfrest cluster select|show`.
pub async fn run(command: ClusterCommand, top: &Target) -> Result<(), Failure> {
    match command {
        ClusterCommand::Select { target } => {
            let target = target.or(top);
            if target.endpoint.is_empty() {
                return Err(Failure::Usage(
                    "`sfrest cluster select` needs --endpoint URL (the cluster's HTTP gateway, usually port 19080)".into(),
                ));
            }
            let name = selected_or_default();
            // The options must make a client; the cluster is asked for its version, as a
            // check, but a cluster that cannot be reached now is saved all the same.
            let (client, _) = connect_to(&target, Emulator::builder(), "").await?;
            match tokio::time::timeout(std::time::Duration::from_secs(10), client.cluster_version())
                .await
            {
                Ok(Ok(version)) => note(format_args!(
                    "sfrest: {} answers, runtime {version}",
                    target.endpoint.join(", ")
                )),
                Ok(Err(e)) => note(format_args!(
                    "sfrest: warning: the cluster did not answer ({e}); the profile is saved anyway"
                )),
                Err(_) => note(
                    "sfrest: warning: the cluster did not answer in 10 s; the profile is saved anyway",
                ),
            }
            let mut saved = Profiles::load()?;
            saved.profiles.insert(name.clone(), target.to_profile());
            saved.default = Some(name.clone());
            let path = saved.save()?;
            out(format_args!(
                "saved profile {name} in {} (the default now)\n",
                path.display()
            ))
        }
        ClusterCommand::Show { json } => {
            let saved = Profiles::load()?;
            if json {
                return out(format_args!(
                    "{}\n",
                    serde_json::json!({"default": saved.default, "profiles": saved.profiles})
                ));
            }
            if saved.profiles.is_empty() {
                return out(
                    "no saved profile (save one with `sfrest cluster select --endpoint URL`)\n",
                );
            }
            let mut text = String::new();
            for (name, profile) in &saved.profiles {
                let mark = if saved.default.as_deref() == Some(name) {
                    "*"
                } else {
                    " "
                };
                let target = Target::from_profile(profile);
                text.push_str(&format!("{mark} {name}: {}\n", target.flags()));
            }
            out(text)
        }
    }
}
