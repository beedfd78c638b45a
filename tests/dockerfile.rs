//! The Dockerfile and the Kubernetes manifests that run its image name only what exists and agree
//! with each other. No container builder runs here, so each part of the recipe is checked against
//! what it relies on: the builder's cargo commands against `cargo metadata` and `cargo build
//! --help` (binaries, packages, features, flags) and the lock file (`cargo tree --locked`); the
//! build context against the workspace's members; the runtime image's user, paths, variables and
//! port against the manifests; the manifests' commands and flags against the binaries' `--help`;
//! their probe paths against the running app.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

const IMAGE: &str = "moai-flow:latest";
const BUILD_COMMAND: &str = "docker build -t moai-flow:latest .";
const MANIFESTS: [&str; 2] = ["deploy/k8s/deployment.yaml", "deploy/k8s/postgres.yaml"];

fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

fn read(path: &str) -> String {
    std::fs::read_to_string(repo(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// One Dockerfile instruction: its keyword (upper case) and its arguments, continuation lines
/// joined and comment lines dropped, as Docker reads them.
struct Instruction {
    keyword: String,
    args: String,
}

/// The Dockerfile's instructions, in stages: each stage begins with its `FROM`.
fn stages() -> Vec<Vec<Instruction>> {
    let mut stages: Vec<Vec<Instruction>> = Vec::new();
    let mut pending = String::new();
    for line in read("Dockerfile").lines() {
        let trimmed = line.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        match trimmed.strip_suffix('\\') {
            Some(part) => {
                pending.push_str(part);
                pending.push(' ');
            }
            None => {
                pending.push_str(trimmed);
                let text = std::mem::take(&mut pending);
                let (keyword, args) = text.split_once(char::is_whitespace).unwrap_or((&text, ""));
                let instruction = Instruction {
                    keyword: keyword.to_ascii_uppercase(),
                    args: args.trim().to_owned(),
                };
                if instruction.keyword == "FROM" {
                    stages.push(Vec::new());
                }
                stages
                    .last_mut()
                    .expect("the Dockerfile starts with FROM")
                    .push(instruction);
            }
        }
    }
    assert!(
        pending.is_empty(),
        "a continuation line ends the Dockerfile"
    );
    stages
}

fn args_of<'a>(stage: &'a [Instruction], keyword: &str) -> Vec<&'a str> {
    stage
        .iter()
        .filter(|i| i.keyword == keyword)
        .map(|i| i.args.as_str())
        .collect()
}

/// The one instruction `keyword` of a stage.
fn only<'a>(stage: &'a [Instruction], keyword: &str) -> &'a str {
    match args_of(stage, keyword)[..] {
        [args] => args,
        ref found => panic!("expected one {keyword}, found {found:?}"),
    }
}

/// A JSON-array (exec form) argument: `["a", "b"]`.
fn exec_form(args: &str) -> Vec<String> {
    serde_json::from_str(args).unwrap_or_else(|e| panic!("{args}: not an exec-form array: {e}"))
}

/// The shell commands of the stage's `RUN`s, split at `&&`, each as words (the Dockerfile's
/// commands quote nothing).
fn run_commands(stage: &[Instruction]) -> Vec<Vec<String>> {
    args_of(stage, "RUN")
        .iter()
        .flat_map(|run| run.split("&&"))
        .map(|command| {
            command
                .split_whitespace()
                .filter(|w| !w.starts_with("--mount="))
                .map(str::to_owned)
                .collect::<Vec<_>>()
        })
        .filter(|words| !words.is_empty())
        .collect()
}

/// A workspace package as `cargo metadata` describes it.
struct Package {
    dir: PathBuf,
    features: BTreeMap<String, Vec<String>>,
    /// Binary target name -> its required features.
    bins: BTreeMap<String, Vec<String>>,
    rust_version: Option<String>,
}

fn cargo() -> Command {
    let mut command = Command::new(env!("CARGO"));
    command.current_dir(env!("CARGO_MANIFEST_DIR"));
    command
}

fn run_cargo(args: &[&str]) -> String {
    let output = cargo().args(args).output().expect("cargo runs");
    assert!(
        output.status.success(),
        "cargo {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

fn workspace() -> BTreeMap<String, Package> {
    let metadata: Value = serde_json::from_str(&run_cargo(&[
        "metadata",
        "--no-deps",
        "--format-version",
        "1",
        "--locked",
        "--offline",
    ]))
    .unwrap();
    metadata["packages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            let strings = |v: &Value| -> Vec<String> {
                v.as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|s| s.as_str().map(str::to_owned))
                    .collect()
            };
            let bins = p["targets"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|t| t["kind"].as_array().unwrap().iter().any(|k| k == "bin"))
                .map(|t| {
                    (
                        t["name"].as_str().unwrap().to_owned(),
                        strings(&t["required-features"]),
                    )
                })
                .collect();
            let features = p["features"]
                .as_object()
                .unwrap()
                .iter()
                .map(|(name, enables)| (name.clone(), strings(enables)))
                .collect();
            let package = Package {
                dir: Path::new(p["manifest_path"].as_str().unwrap())
                    .parent()
                    .unwrap()
                    .to_owned(),
                features,
                bins,
                rust_version: p["rust_version"].as_str().map(str::to_owned),
            };
            (p["name"].as_str().unwrap().to_owned(), package)
        })
        .collect()
}

/// The features `cargo build -p package --features given` enables on `package`, transitively
/// within it (`default` unless `--no-default-features`).
fn enabled_features(package: &Package, given: &[String], defaults: bool) -> BTreeSet<String> {
    let mut todo: Vec<String> = given.to_vec();
    if defaults && package.features.contains_key("default") {
        todo.push("default".into());
    }
    let mut enabled = BTreeSet::new();
    while let Some(feature) = todo.pop() {
        if let Some(enables) = package.features.get(&feature)
            && enabled.insert(feature)
        {
            // `dep:x` and `other/feature` enable nothing of this package.
            todo.extend(enables.iter().filter(|e| !e.contains([':', '/'])).cloned());
        }
    }
    enabled
}

/// The binaries the builder stage builds, each checked against the workspace: its package, the
/// package's features, the bin's required features, every flag `cargo build` accepts, and the
/// lock file. Returns the paths it builds them at.
fn checked_builds(stage: &[Instruction], workspace: &BTreeMap<String, Package>) -> Vec<String> {
    let help = run_cargo(&["build", "--help"]);
    let root_package = workspace
        .iter()
        .find(|(_, p)| p.dir == Path::new(env!("CARGO_MANIFEST_DIR")))
        .map(|(name, _)| name.clone())
        .expect("the root package");
    let mut built = Vec::new();
    for words in run_commands(stage) {
        if !words.starts_with(&["cargo".to_owned(), "build".to_owned()]) {
            continue;
        }
        let mut flags = BTreeSet::new();
        let (mut package, mut bins, mut features) = (root_package.clone(), Vec::new(), Vec::new());
        let mut words = words[2..].iter();
        while let Some(word) = words.next() {
            let flag = word.split('=').next().unwrap().to_owned();
            assert!(
                flag.starts_with('-')
                    && (help.contains(&format!("{flag} ")) || help.contains(&format!("{flag},"))),
                "`cargo build` has no flag {flag} ({word})"
            );
            let mut value = || {
                words
                    .next()
                    .unwrap_or_else(|| panic!("{flag} needs a value"))
                    .clone()
            };
            match flag.as_str() {
                "-p" | "--package" => package = value(),
                "--bin" => bins.push(value()),
                "-F" | "--features" => features.extend(value().split(',').map(str::to_owned)),
                _ => {}
            }
            flags.insert(flag);
        }
        assert!(
            flags.contains("--locked") && flags.contains("--release"),
            "every build is --release with the locked dependencies: {flags:?}"
        );
        let pkg = workspace
            .get(&package)
            .unwrap_or_else(|| panic!("no workspace package {package}"));
        for feature in &features {
            assert!(
                pkg.features.contains_key(feature),
                "{package} has no feature {feature}"
            );
        }
        let enabled = enabled_features(pkg, &features, !flags.contains("--no-default-features"));
        assert!(!bins.is_empty(), "each build names its binaries (--bin)");
        for bin in &bins {
            let required = pkg
                .bins
                .get(bin)
                .unwrap_or_else(|| panic!("{package} has no [[bin]] {bin}: {:?}", pkg.bins.keys()));
            for feature in required {
                assert!(
                    enabled.contains(feature),
                    "{bin} needs the feature {feature}"
                );
            }
            built.push(format!("target/release/{bin}"));
        }
        // The same selection resolves with the lock file as it is.
        let mut tree = vec![
            "tree",
            "--locked",
            "--offline",
            "--depth",
            "0",
            "-p",
            &package,
        ];
        let joined = features.join(",");
        if !features.is_empty() {
            tree.extend(["--features", &joined]);
        }
        run_cargo(&tree);
    }
    built
}

#[test]
fn the_builder_builds_every_binary_of_the_workspace_with_locked_dependencies() {
    let workspace = workspace();
    let stages = stages();
    assert_eq!(stages.len(), 2, "a builder stage and a runtime stage");
    let (build, runtime) = (&stages[0], &stages[1]);

    // The builder's Rust is the workspace's rust-version, on the runtime's Debian release.
    let from = only(build, "FROM");
    let (image, stage_name) = from.split_once(" AS ").expect("FROM image AS name");
    let rust_version = workspace["moai-flow"].rust_version.as_deref().unwrap();
    assert_eq!(image, format!("rust:{rust_version}-slim-bookworm"));
    assert_eq!(only(runtime, "FROM"), "debian:bookworm-slim");

    // The build context: the whole workspace, less what .dockerignore leaves out, which must not
    // be a member's sources or the lock file.
    for copy in args_of(build, "COPY") {
        let words: Vec<&str> = copy.split_whitespace().collect();
        for source in &words[..words.len() - 1] {
            assert!(
                repo(source).exists(),
                "COPY source {source} is not in the repository"
            );
        }
    }
    let ignored: Vec<String> = read(".dockerignore")
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| l.trim_matches('/').to_owned())
        .collect();
    assert!(
        ignored.iter().any(|p| p == "target"),
        "target/ stays out of the context"
    );
    let is_ignored = |path: &str| {
        ignored
            .iter()
            .any(|p| path == p || path.starts_with(&format!("{p}/")))
    };
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    for package in workspace.values() {
        let dir = package.dir.strip_prefix(root).unwrap().to_str().unwrap();
        for file in ["Cargo.toml", "src"] {
            let path = Path::new(dir).join(file);
            let path = path.to_str().unwrap();
            assert!(
                repo(path).exists() && !is_ignored(path),
                "{path} must be in the context"
            );
        }
    }
    assert!(!is_ignored("Cargo.lock"));

    // What is built is every [[bin]] of the workspace, and exactly what is installed for the
    // runtime stage.
    let built = checked_builds(build, &workspace);
    let all_bins: BTreeSet<&String> = workspace.values().flat_map(|p| p.bins.keys()).collect();
    let built_names: BTreeSet<&str> = built
        .iter()
        .map(|p| p.rsplit('/').next().unwrap())
        .collect();
    assert_eq!(
        built_names,
        all_bins.iter().map(|s| s.as_str()).collect(),
        "the image ships every binary of the workspace"
    );
    let install = run_commands(build)
        .into_iter()
        .find(|w| w[0] == "install")
        .expect("the binaries are installed out of the cache mount");
    let installed: BTreeSet<&str> = install
        .iter()
        .filter(|w| w.starts_with("target/"))
        .map(String::as_str)
        .collect();
    assert_eq!(installed, built.iter().map(String::as_str).collect());
    let out_dir = install
        .windows(2)
        .find(|w| w[0] == "-t")
        .map(|w| w[1].clone())
        .expect("install -t DIR");

    // The runtime stage copies them from the builder into /usr/local/bin.
    let copy = only(runtime, "COPY");
    let words: Vec<&str> = copy.split_whitespace().collect();
    assert_eq!(words[0], format!("--from={stage_name}"));
    assert_eq!(*words.last().unwrap(), "/usr/local/bin/");
    let copied: BTreeSet<&str> = words[1..words.len() - 1]
        .iter()
        .map(|w| {
            w.strip_prefix(&format!("{out_dir}/"))
                .expect("from the install directory")
        })
        .collect();
    assert_eq!(copied, built_names);
}

/// The runtime stage as the manifests rely on it.
struct Runtime {
    uid: u32,
    gid: u32,
    env: BTreeMap<String, String>,
    volumes: Vec<String>,
    port: u16,
    cmd: Vec<String>,
}

fn runtime() -> Runtime {
    let stages = stages();
    let stage = &stages[1];
    let (uid, gid) = only(stage, "USER").split_once(':').expect("USER uid:gid");
    let (uid, gid): (u32, u32) = (uid.parse().unwrap(), gid.parse().unwrap());
    assert_ne!(uid, 0, "the image does not run as root");
    let commands = run_commands(stage);
    let command = |program: &str| {
        commands
            .iter()
            .find(|c| c[0] == program)
            .unwrap_or_else(|| panic!("no {program}"))
    };
    let value_of = |words: &[String], flag: &str| {
        words
            .windows(2)
            .find(|w| w[0] == flag)
            .map(|w| w[1].clone())
    };
    // USER is the user created here, and it owns every volume.
    assert_eq!(value_of(command("useradd"), "--uid"), Some(uid.to_string()));
    assert_eq!(
        value_of(command("groupadd"), "--gid"),
        Some(gid.to_string())
    );
    let volumes = exec_form(only(stage, "VOLUME"));
    let chown = command("chown");
    for volume in &volumes {
        assert!(
            chown.contains(volume),
            "{volume} is not given to the user: {chown:?}"
        );
    }
    let env = args_of(stage, "ENV")
        .iter()
        .flat_map(|args| args.split_whitespace())
        .map(|pair| {
            let (name, value) = pair.split_once('=').expect("ENV NAME=value");
            (name.to_owned(), value.to_owned())
        })
        .collect();
    assert_eq!(
        only(stage, "WORKDIR"),
        volumes[0],
        "the working directory is the data volume"
    );
    Runtime {
        uid,
        gid,
        env,
        volumes,
        port: only(stage, "EXPOSE").parse().unwrap(),
        cmd: exec_form(only(stage, "CMD")),
    }
}

/// Whether the app reads the environment variable `name`: its name, quoted, in the sources of
/// the SDK, SwarmDB or the app.
fn read_by_the_app(name: &str) -> bool {
    fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap().flatten() {
            let path = entry.path();
            if path.is_dir() {
                sources(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }
    let mut files = Vec::new();
    sources(&repo("src"), &mut files);
    sources(&repo("moai-instrument/src"), &mut files);
    sources(&repo("moai-swarmdb/src"), &mut files);
    let quoted = format!("\"{name}\"");
    files
        .iter()
        .any(|f| std::fs::read_to_string(f).unwrap().contains(&quoted))
}

/// A binary of the image, as built for the tests.
fn binary(path: &str) -> PathBuf {
    match path.strip_prefix("/usr/local/bin/") {
        Some("moai-flow") => PathBuf::from(env!("CARGO_BIN_EXE_moai-flow")),
        Some("moai-health") => support::moai_health(),
        _ => panic!("{path} is not a binary the image ships in /usr/local/bin"),
    }
}

/// Every flag in `args` is one the binary's `--help` lists.
fn assert_flags_exist(program: &str, args: &[String]) {
    let output = Command::new(binary(program))
        .arg("--help")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0), "{program} --help");
    let help = String::from_utf8(output.stdout).unwrap();
    // The flags the help names, as whole words (`--db` is not `--db-url`).
    let known: BTreeSet<&str> = help
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '-'))
        .filter(|word| word.starts_with('-'))
        .collect();
    for flag in args.iter().filter(|a| a.starts_with('-')) {
        let flag = flag.split('=').next().unwrap();
        assert!(
            known.contains(flag),
            "{program} has no flag {flag}:\n{help}"
        );
    }
    // And the binary's own parser takes them, values included: `--help` after them exits 0 only
    // when everything before it parsed.
    let parsed = Command::new(binary(program))
        .args(args)
        .arg("--help")
        .output()
        .unwrap();
    assert_eq!(
        parsed.status.code(),
        Some(0),
        "{program} {args:?}: {}",
        String::from_utf8_lossy(&parsed.stderr)
    );
}

fn yaml_docs(path: &str) -> Vec<serde_yaml_ng::Value> {
    serde_yaml_ng::Deserializer::from_str(&read(path))
        .map(|d| serde::Deserialize::deserialize(d).expect("valid YAML document"))
        .collect()
}

fn strings(value: &serde_yaml_ng::Value) -> Vec<String> {
    value
        .as_sequence()
        .into_iter()
        .flatten()
        .map(|v| v.as_str().expect("a string").to_owned())
        .collect()
}

#[test]
fn the_manifests_run_the_image_as_the_dockerfile_builds_it() {
    let image = runtime();
    assert_eq!(image.port, 9090);
    assert_flags_exist(&image.cmd[0], &image.cmd[1..]);
    for name in image.env.keys() {
        assert!(
            read_by_the_app(name),
            "the Dockerfile sets {name}, which nothing reads"
        );
    }
    for doc in ["README.md", MANIFESTS[0], MANIFESTS[1]] {
        assert!(
            read(doc).contains(BUILD_COMMAND),
            "{doc} gives the build command"
        );
    }

    let dir = support::temp_dir("dockerfile-probes");
    let (_app, addr) = support::start_app(&dir, "127.0.0.1:0", &["--agents", "2", "--rate", "20"]);
    let mut checked = 0;
    for manifest in MANIFESTS {
        for doc in yaml_docs(manifest)
            .iter()
            .filter(|d| d["kind"] == "Deployment")
        {
            let pod = &doc["spec"]["template"]["spec"];
            for container in pod["containers"].as_sequence().unwrap() {
                if container["image"].as_str() == Some("moai-flow:latest") {
                    check_container(manifest, pod, container, &image, &addr);
                    checked += 1;
                } else {
                    // Another project's image (the PostgreSQL exporter): not built here.
                    assert!(
                        !container["image"]
                            .as_str()
                            .unwrap()
                            .starts_with("moai-flow")
                    );
                }
            }
        }
    }
    assert_eq!(
        checked,
        MANIFESTS.len(),
        "one container of {IMAGE} in each manifest"
    );
}

fn check_container(
    manifest: &str,
    pod: &serde_yaml_ng::Value,
    container: &serde_yaml_ng::Value,
    image: &Runtime,
    app_addr: &str,
) {
    let context = |what: &str| format!("{manifest}: {what}");
    // The user: the image's, never root.
    let security = &pod["securityContext"];
    assert_eq!(
        security["runAsNonRoot"],
        true,
        "{}",
        context("runAsNonRoot")
    );
    for (field, id) in [
        ("runAsUser", image.uid),
        ("runAsGroup", image.gid),
        ("fsGroup", image.gid),
    ] {
        assert_eq!(
            security[field].as_u64(),
            Some(u64::from(id)),
            "{}",
            context(field)
        );
    }

    // The command and its flags: a binary of the image, flags it accepts.
    let command = strings(&container["command"]);
    let args = strings(&container["args"]);
    assert_flags_exist(
        &command[0],
        command[1..]
            .iter()
            .chain(&args)
            .cloned()
            .collect::<Vec<_>>()
            .as_slice(),
    );

    // The environment: names the app reads, values the image agrees with.
    let mut env = BTreeMap::new();
    for var in container["env"].as_sequence().unwrap() {
        let name = var["name"].as_str().unwrap();
        assert!(
            read_by_the_app(name),
            "{}",
            context(&format!("{name} is read by nothing"))
        );
        if let Some(value) = var["value"].as_str() {
            if let Some(in_image) = image.env.get(name) {
                assert_eq!(value, in_image, "{}", context(name));
            }
            env.insert(name.to_owned(), value.to_owned());
        }
    }

    // The port: the named `metrics` port is the one the app listens on and the image exposes.
    let ports = container["ports"].as_sequence().unwrap();
    let metrics = ports
        .iter()
        .find(|p| p["name"] == "metrics")
        .expect("a port named metrics");
    assert_eq!(
        metrics["containerPort"].as_u64(),
        Some(u64::from(image.port))
    );
    let listen = env
        .get("MOAI_METRICS_ADDR")
        .or(image.env.get("MOAI_METRICS_ADDR"))
        .unwrap();
    assert!(
        listen.ends_with(&format!(":{}", image.port)),
        "{}",
        context(listen)
    );

    // The volumes: mounted where the image declares them, holding the database and the logs.
    let mounts: Vec<&str> = container["volumeMounts"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|m| m["mountPath"].as_str().unwrap())
        .collect();
    for mount in &mounts {
        assert!(
            image.volumes.iter().any(|v| v == mount),
            "{}",
            context(&format!("{mount} is no VOLUME of the image"))
        );
    }
    for name in ["MOAI_DB_PATH", "MOAI_LOG_DIR"] {
        let path = env.get(name).or(image.env.get(name)).unwrap();
        assert!(
            image.volumes.iter().any(|v| path.starts_with(v.as_str())),
            "{}",
            context(&format!("{name}={path} is on no volume"))
        );
    }

    // The probes: exec commands are the image's binaries with their flags; HTTP probes ask the
    // metrics port on paths the app serves.
    for probe in ["livenessProbe", "readinessProbe", "startupProbe"] {
        let probe_spec = &container[probe];
        assert!(!probe_spec.is_null(), "{}", context(probe));
        if let Some(exec) = probe_spec.get("exec") {
            let command = strings(&exec["command"]);
            assert_flags_exist(&command[0], &command[1..]);
        }
        if let Some(http) = probe_spec.get("httpGet") {
            assert_eq!(http["port"], "metrics", "{}", context(probe));
            let path = http["path"].as_str().unwrap();
            let (status, body) = support::get(app_addr, path).unwrap();
            assert_eq!(
                status,
                200,
                "{}",
                context(&format!("{probe} {path}: {body}"))
            );
        }
    }
}
