//! A sample application package on disk, for tests, benchmarks and trying the emulator: a
//! few services, nested folders, names with spaces and non-ASCII letters, and one large code
//! file. Contents are pseudo-random but fixed by the seed, so a copy can be compared byte for
//! byte.

use std::{
    fs,
    io::{self, Write},
    path::Path,
};

/// What [`write_sample_package`] writes.
///
/// ```
/// use servicefabric_emulator::SamplePackage;
///
/// let bench = SamplePackage { small_files: 500, small_file_bytes: 400 * 1024, ..SamplePackage::default() };
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SamplePackage {
    /// `ApplicationTypeName` in the manifest.
    pub type_name: String,
    /// `ApplicationTypeVersion` in the manifest.
    pub type_version: String,
    /// Services (each with Code, Config and Data packages); at least 1.
    pub services: usize,
    /// Small files in all, spread over the services' Code and Data folders.
    pub small_files: usize,
    /// Size of each small file.
    pub small_file_bytes: usize,
    /// Size of the one large file in the first service's Code folder (0: none).
    pub large_file_bytes: u64,
    /// Seed of the contents.
    pub seed: u64,
    /// The first this many services carry the application's version as their own and as
    /// their code package's, with code that differs by version: the services an upgrade to
    /// this version changes. The others stay at 1.0.0, byte for byte.
    pub changed_services: usize,
}

impl Default for SamplePackage {
    fn default() -> Self {
        Self {
            type_name: "SampleAppType".into(),
            type_version: "1.0.0".into(),
            services: 3,
            small_files: 12,
            small_file_bytes: 10 * 1024,
            large_file_bytes: 3 * 1024 * 1024,
            seed: 7,
            changed_services: 0,
        }
    }
}

/// What was written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SampleSummary {
    /// Files written.
    pub files: u64,
    /// Bytes written.
    pub bytes: u64,
}

/// Service folder names: plain, with a space, with non-ASCII letters.
const SERVICES: [&str; 3] = ["FrontEndPkg", "Back End Pkg", "Wörker·Pkg"];

/// Writes the package into `dir` (created if missing).
///
/// ```no_run
/// use servicefabric_emulator::{SamplePackage, write_sample_package};
///
/// # fn demo() -> std::io::Result<()> {
/// let summary = write_sample_package(std::path::Path::new("MyAppPkg"), &SamplePackage::default())?;
/// println!("{} files, {} bytes", summary.files, summary.bytes);
/// # Ok(()) }
/// ```
pub fn write_sample_package(dir: &Path, sample: &SamplePackage) -> io::Result<SampleSummary> {
    let services: Vec<String> = (0..sample.services.max(1))
        .map(|i| match SERVICES.get(i) {
            Some(name) => (*name).to_string(),
            None => format!("Service{i}Pkg"),
        })
        .collect();
    let mut summary = SampleSummary { files: 0, bytes: 0 };
    let mut large = None;
    let mut write = |path: &Path, bytes: &[u8]| -> io::Result<()> {
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent)?;
        }
        fs::write(path, bytes)?;
        summary.files += 1;
        summary.bytes += bytes.len() as u64;
        Ok(())
    };
    let version_of = |i: usize| {
        if i < sample.changed_services {
            sample.type_version.as_str()
        } else {
            "1.0.0"
        }
    };
    let imports: String = services
        .iter()
        .enumerate()
        .map(|(i, s)| {
            format!(
                "  <ServiceManifestImport>\n    <ServiceManifestRef ServiceManifestName=\"{s}\" ServiceManifestVersion=\"{}\" />\n  </ServiceManifestImport>\n",
                version_of(i)
            )
        })
        .collect();
    // One default service per service package, and two declared parameters.
    let defaults: String = (0..services.len())
        .map(|i| {
            format!(
                "    <Service Name=\"Service{i}\">\n      <StatelessService ServiceTypeName=\"{i}Type\" InstanceCount=\"[InstanceCount]\"><SingletonPartition /></StatelessService>\n    </Service>\n"
            )
        })
        .collect();
    let app = format!(
        "\u{feff}<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<ApplicationManifest xmlns=\"http://schemas.microsoft.com/2011/01/fabric\" ApplicationTypeName=\"{}\" ApplicationTypeVersion=\"{}\">\n  <Parameters>\n    <Parameter Name=\"InstanceCount\" DefaultValue=\"1\" />\n    <Parameter Name=\"Greeting\" DefaultValue=\"hello\" />\n  </Parameters>\n{imports}  <DefaultServices>\n{defaults}  </DefaultServices>\n</ApplicationManifest>\n",
        sample.type_name, sample.type_version
    );
    write(&dir.join("ApplicationManifest.xml"), app.as_bytes())?;
    let mut rng = sample.seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    for (i, service) in services.iter().enumerate() {
        let root = dir.join(service);
        let version = version_of(i);
        let manifest = format!(
            "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<ServiceManifest xmlns=\"http://schemas.microsoft.com/2011/01/fabric\" Name=\"{service}\" Version=\"{version}\">\n  <ServiceTypes><StatelessServiceType ServiceTypeName=\"{i}Type\" /></ServiceTypes>\n  <CodePackage Name=\"Code\" Version=\"{version}\"><EntryPoint><ExeHost><Program>app.exe</Program></ExeHost></EntryPoint></CodePackage>\n  <ConfigPackage Name=\"Config\" Version=\"1.0.0\" />\n  <DataPackage Name=\"Data\" Version=\"1.0.0\" />\n</ServiceManifest>\n"
        );
        write(&root.join("ServiceManifest.xml"), manifest.as_bytes())?;
        write(
            &root.join("Config").join("Settings.xml"),
            b"<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<Settings xmlns=\"http://schemas.microsoft.com/2011/01/fabric\" />\n",
        )?;
        let code = noise(&mut rng, 4096);
        if i < sample.changed_services {
            // Other code, same length: the rest of the package stays byte for byte.
            let mut other = sample
                .type_version
                .bytes()
                .fold(sample.seed ^ 0xA5A5, |h, b| h.rotate_left(5) ^ u64::from(b))
                | 1;
            write(&root.join("Code").join("app.exe"), &noise(&mut other, 4096))?;
        } else {
            write(&root.join("Code").join("app.exe"), &code)?;
        }
        // An empty folder: it still gets its marker.
        fs::create_dir_all(root.join("Data").join("empty"))?;
        if i == 0 && sample.large_file_bytes > 0 {
            write_large(
                &root.join("Code").join("big library.dll"),
                sample.large_file_bytes,
                &mut rng,
            )?;
            large = Some(sample.large_file_bytes);
        }
    }
    for n in 0..sample.small_files {
        let service = &services[n % services.len()];
        let path = match n % 4 {
            0 => dir
                .join(service)
                .join("Code")
                .join(format!("lib{n:04}.dll")),
            1 => dir
                .join(service)
                .join("Code")
                .join("runtimes")
                .join("données ü")
                .join(format!("native {n:04}.so")),
            2 => dir
                .join(service)
                .join("Data")
                .join(format!("table{n:04}.bin")),
            _ => dir
                .join(service)
                .join("Data")
                .join("nested")
                .join("deeper")
                .join(format!("rows {n:04}.dat")),
        };
        write(&path, &noise(&mut rng, sample.small_file_bytes))?;
    }
    if let Some(bytes) = large {
        summary.files += 1;
        summary.bytes += bytes;
    }
    Ok(summary)
}

/// xorshift64: fast, and the same bytes for the same seed everywhere.
fn next(state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}

fn noise(state: &mut u64, len: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        out.extend_from_slice(&next(state).to_le_bytes());
    }
    out.truncate(len);
    out
}

fn write_large(path: &Path, len: u64, state: &mut u64) -> io::Result<()> {
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent)?;
    }
    let mut file = io::BufWriter::new(fs::File::create(path)?);
    let mut left = len;
    while left > 0 {
        let piece = left.min(1 << 20) as usize;
        file.write_all(&noise(state, piece))?;
        left -= piece as u64;
    }
    file.into_inner().map_err(|e| e.into_error())?.sync_all()
}
