//! `gepi`: the command line of the service.

use std::{net::SocketAddr, path::PathBuf, process::ExitCode};

use chrono::NaiveDate;
use clap::{Parser, Subcommand};
use gepi::{
    config::{Config, LogFormat},
    db,
    operators::service as operators,
    seed, AppState,
};

/// mimalloc instead of the system allocator: a request allocates and frees many
/// small values (rows, JSON, the answer), and glibc's malloc took a fifth of the
/// service's CPU on the benchmark's case list.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(name = "gepi", version, about = "GePI: Patti per l'inclusione sociale, open implementation")]
struct Cli {
    /// Optional TOML configuration file (values there are overridden by GEPI_* variables).
    #[arg(long, global = true, env = "GEPI_CONFIG")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the HTTP service (migrates the database first, unless --no-migrate).
    Serve {
        /// Demo mode: enable the dev login and load the demo data set into an empty database.
        #[arg(long)]
        demo: bool,
        /// Address to listen on (overrides GEPI_BIND).
        #[arg(long)]
        bind: Option<SocketAddr>,
        /// Do not migrate: refuse to start unless the database is already at
        /// this build's schema (a deployment that runs `gepi migrate` once, as
        /// a step of its own, before it starts or replaces the instances).
        #[arg(long)]
        no_migrate: bool,
    },
    /// Apply pending migrations (or roll back with --down).
    Migrate {
        /// Roll back instead of applying.
        #[arg(long)]
        down: bool,
        /// How many migrations to roll back (all when omitted).
        #[arg(long, requires = "down")]
        steps: Option<u32>,
    },
    /// Print the GraphQL SDL (schema.graphql is this output).
    Schema,
    /// Fill an empty database with synthetic data.
    Seed {
        /// The demo data set (2 Ambiti, 300 households).
        #[arg(long, conflicts_with_all = ["ambiti", "households"])]
        demo: bool,
        /// Number of Ambiti (from the embedded table of real Ambiti).
        #[arg(long, default_value_t = 2)]
        ambiti: usize,
        /// Number of households in all.
        #[arg(long, default_value_t = 1000)]
        households: usize,
        /// Seed of the generator: the same seed gives the same data.
        #[arg(long, default_value_t = 2026)]
        seed: u64,
        /// Date the data set is built around (default: today).
        #[arg(long)]
        today: Option<NaiveDate>,
    },
    /// Inspect the authorization policies.
    Policy {
        #[command(subcommand)]
        command: PolicyCommand,
    },
    /// Manage API keys of integration partners.
    Apikey {
        #[command(subcommand)]
        command: ApikeyCommand,
    },
    /// Operators: list them (to log in as any of them), or bootstrap a new
    /// installation (add a person, accredit the first Ministry administrator,
    /// revoke in an emergency). Every other accreditation goes through the API.
    Operators {
        /// Print JSON instead of a table (listing).
        #[arg(long)]
        json: bool,
        #[command(subcommand)]
        command: Option<OperatorsCommand>,
    },
    /// Reference data of the territory.
    Territory {
        #[command(subcommand)]
        command: TerritoryCommand,
    },
    /// Read a partner's feed.
    Import {
        #[command(subcommand)]
        command: ImportCommand,
    },
    /// The partners' change feed (what `partnerEvents` serves).
    PartnerEvents {
        #[command(subcommand)]
        command: PartnerEventsCommand,
    },
    /// Conventions of the Comuni (for the bootstrap of an installation; the
    /// Ambito administrator uploads them through the API afterwards).
    Conventions {
        #[command(subcommand)]
        command: ConventionsCommand,
    },
    /// The audit trail's Merkle tree: keys, checkpoints, verification.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
    /// Retention of personal data (`policies/retention.csv`).
    Retention {
        #[command(subcommand)]
        command: RetentionCommand,
    },
    /// Legal holds: what retention must not touch.
    Hold {
        #[command(subcommand)]
        command: HoldCommand,
    },
}

#[derive(Subcommand)]
enum RetentionCommand {
    /// Anonymise the households whose cases closed longer ago than their
    /// period and delete the audit events past theirs (leaves and tombstones
    /// kept), except what a legal hold covers; says what and why.
    Run {
        /// Only say what would be done.
        #[arg(long)]
        dry_run: bool,
    },
}

#[derive(Subcommand)]
enum HoldCommand {
    /// Place a hold on a case, a household or a person (one of the three).
    Place {
        /// The case (its id).
        #[arg(long, conflicts_with_all = ["household", "fiscal_code"], required_unless_present_any = ["household", "fiscal_code"])]
        case: Option<String>,
        /// The household (its id).
        #[arg(long, conflicts_with = "fiscal_code")]
        household: Option<String>,
        /// The person's codice fiscale.
        #[arg(long = "fiscal-code")]
        fiscal_code: Option<String>,
        /// Who asks for it (a court, the Garante, the Ambito's legal office).
        #[arg(long)]
        holder: String,
        /// The legal basis (proceedings, order, article).
        #[arg(long)]
        basis: String,
    },
    /// Release a hold.
    Release {
        /// The hold's id.
        #[arg(long)]
        id: uuid::Uuid,
        /// Why it is released.
        #[arg(long)]
        reason: String,
    },
    /// The holds in force.
    List,
}

#[derive(Subcommand)]
enum AuditCommand {
    /// Make a checkpoint signing key: the secret (for GEPI_AUDIT_SIGNING_KEY,
    /// never the repository) on standard output, the verifier key on standard error.
    Keygen {
        /// The log's origin, which names the key: e.g. `gepi.ambito.example.it/audit`.
        #[arg(long)]
        origin: String,
    },
    /// Put every queued event into the tree and sign a checkpoint now
    /// (the server does both on its own; this is for the command line).
    Checkpoint,
    /// Recompute the tree from the events and check it against every stored
    /// checkpoint and the ones given; exits with 1 and names the first event
    /// that does not match.
    Verify {
        /// A checkpoint kept outside the database (repeatable).
        #[arg(long = "from-checkpoint")]
        from_checkpoint: Vec<PathBuf>,
        /// The verifier key (`<origin>+<hash>+<key>`, as `GET /audit/key`
        /// serves it); default: the public half of the configured signing key.
        #[arg(long)]
        key: Option<String>,
    },
    /// Who accessed a person's data: every event about the person with this
    /// codice fiscale, their household and its case, in every Ambito, each
    /// with its inclusion proof against the latest checkpoint (the asking is
    /// recorded in the trail).
    Report {
        /// The person's codice fiscale.
        #[arg(long = "fiscal-code")]
        fiscal_code: String,
        /// `json` (default) or `csv`.
        #[arg(long, default_value = "json", value_parser = ["json", "csv"])]
        format: String,
    },
}

#[derive(Subcommand)]
enum ConventionsCommand {
    /// Record a signed convention of a Comune with its PDF.
    Add {
        /// ISTAT code of the Comune.
        #[arg(long)]
        comune: String,
        /// USO_GEPI or PUC.
        #[arg(long)]
        kind: String,
        /// Date of signature.
        #[arg(long)]
        signed_on: NaiveDate,
        /// First day of validity (default: the signing date).
        #[arg(long)]
        valid_from: Option<NaiveDate>,
        /// Last day of validity (default: open-ended).
        #[arg(long)]
        valid_to: Option<NaiveDate>,
        /// The signed document (PDF).
        #[arg(long)]
        file: PathBuf,
    },
}

#[derive(Subcommand)]
enum OperatorsCommand {
    /// Record a person, pending accreditation.
    Add {
        /// Codice fiscale.
        #[arg(long)]
        fiscal_code: String,
        #[arg(long)]
        first_name: String,
        #[arg(long)]
        last_name: String,
        /// Institutional e-mail address.
        #[arg(long)]
        email: String,
        #[arg(long)]
        phone: Option<String>,
        /// Code of the Ambito the person belongs to; omitted for the Ministry's own.
        #[arg(long)]
        ambito: Option<String>,
    },
    /// Accredit a national operator as ministry_admin (the only role the command
    /// line grants: the first administrator of an empty database).
    Accredit {
        #[arg(long)]
        fiscal_code: String,
        /// Role: ministry_admin.
        #[arg(long)]
        role: String,
        /// First day of validity (default: today).
        #[arg(long)]
        valid_from: Option<NaiveDate>,
        /// Last day of validity (default: open-ended).
        #[arg(long)]
        valid_to: Option<NaiveDate>,
    },
    /// Revoke an operator and all its profiles at once; its sessions end.
    Revoke {
        #[arg(long)]
        fiscal_code: String,
    },
}

#[derive(Subcommand)]
enum TerritoryCommand {
    /// Load Ambiti and Comuni from a semicolon-separated file with the header
    /// `ambito_code;ambito_name;region;istat_code;belfiore_code;comune_name;province`.
    Import {
        #[arg(long)]
        file: PathBuf,
    },
}

#[derive(Subcommand)]
enum ImportCommand {
    /// Apply an INPS feed (JSON Lines, `feeds/inps/v1/`): each record in its own
    /// transaction, bad rows reported and skipped; sending a feed again changes
    /// nothing. Prints the report (JSON) on standard output.
    Inps {
        /// The feed file.
        file: PathBuf,
        /// No progress bar.
        #[arg(long)]
        quiet: bool,
    },
}

#[derive(Subcommand)]
enum PartnerEventsCommand {
    /// Delete the events older than the retention (`GEPI_PARTNER_EVENT_RETENTION_DAYS`);
    /// the server does it every hour.
    Purge,
}

#[derive(Subcommand)]
enum ApikeyCommand {
    /// Create a key; it is printed once and stored only as a hash.
    Create {
        /// Name of the integration partner (unique).
        #[arg(long)]
        name: String,
        /// Role: inps_feed or cpi_partner.
        #[arg(long)]
        role: String,
        /// Code of the Ambito the key is limited to, if any.
        #[arg(long)]
        ambito: Option<String>,
        /// Points of operation cost the key may spend per hour (default:
        /// GEPI_API_QUOTA_POINTS_PER_HOUR).
        #[arg(long)]
        quota: Option<u32>,
    },
    /// List the keys (never the keys themselves).
    List {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Revoke the key of a partner.
    Revoke {
        /// Name of the integration partner.
        #[arg(long)]
        name: String,
    },
    /// Set the hourly quota of a partner's key (points of operation cost).
    Quota {
        /// Name of the integration partner.
        #[arg(long)]
        name: String,
        /// Points per hour.
        #[arg(long, conflicts_with = "default", required_unless_present = "default")]
        points: Option<u32>,
        /// Back to the deployment's default (GEPI_API_QUOTA_POINTS_PER_HOUR).
        #[arg(long)]
        default: bool,
    },
    /// The operation documents a partner's key may run (trusted documents):
    /// once it has any, it runs only those.
    Documents {
        #[command(subcommand)]
        command: DocumentsCommand,
    },
}

#[derive(Subcommand)]
enum DocumentsCommand {
    /// Register operation documents (.graphql files) for a partner's key.
    Add {
        /// Name of the integration partner.
        #[arg(long)]
        name: String,
        /// The documents, one per file.
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// List the documents registered for a partner's key.
    List {
        /// Name of the integration partner.
        #[arg(long)]
        name: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Remove a registered document.
    Remove {
        /// Name of the integration partner.
        #[arg(long)]
        name: String,
        /// The document's id, `sha256:<hex>`.
        #[arg(long)]
        id: String,
    },
}

#[derive(Subcommand)]
enum PolicyCommand {
    /// Validate the policy files against the schema and run the decision tests.
    Check,
    /// Print a decision and the policy line behind it.
    Explain {
        /// Role id, e.g. case_manager.
        #[arg(long)]
        role: String,
        /// A type (`Case`) or a field (`Case.preliminaryAnalysis`).
        #[arg(long)]
        object: String,
        /// Action, e.g. read.
        #[arg(long, default_value = "read")]
        action: String,
    },
}

fn init_tracing(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("GEPI_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,sqlx=warn,sea_orm=warn"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    match format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Text => builder.init(),
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            match e.downcast_ref::<gepi::error::AppError>().and_then(|a| a.field().map(|f| (a.code(), f))) {
                Some((code, field)) => eprintln!("error ({}, {field}): {e:#}", code.as_str()),
                None => eprintln!("error: {e:#}"),
            }
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let config = Config::load(cli.config.as_deref())?;
    match cli.command {
        Command::Schema => {
            print!("{}", gepi::schema::sdl());
            Ok(())
        }
        Command::Migrate { down, steps } => migrate(&config, down, steps).await,
        Command::Seed { demo, ambiti, households, seed: s, today } => {
            seed_database(&config, demo, (ambiti, households, s), today).await
        }
        Command::Policy { command } => policy(command).await,
        Command::Apikey { command } => apikey(&config, command).await,
        Command::Territory { command: TerritoryCommand::Import { file } } => import_territory(&config, file).await,
        Command::Import { command: ImportCommand::Inps { file, quiet } } => import_inps(&config, file, quiet).await,
        Command::PartnerEvents { command: PartnerEventsCommand::Purge } => {
            let conn = db::connect(&config).await?;
            db::migrate(&conn).await?;
            let n = gepi::outbox::purge_expired(&conn, config.partner_event_retention_days).await?;
            println!("deleted: {n} (events older than {} days)", config.partner_event_retention_days);
            Ok(())
        }
        Command::Conventions { command } => add_convention(&config, command).await,
        Command::Audit { command } => audit_command(&config, command).await,
        Command::Retention { command: RetentionCommand::Run { dry_run } } => retention_run(&config, dry_run).await,
        Command::Hold { command } => hold_command(&config, command).await,
        Command::Operators { command: Some(command), .. } => operators_command(&config, command).await,
        Command::Operators { json, command: None } => list_operators(&config, json).await,
        Command::Serve { demo, bind, no_migrate } => serve(config, demo, bind, no_migrate).await,
    }
}

/// `gepi migrate [--down [--steps N]]`.
async fn migrate(config: &Config, down: bool, steps: Option<u32>) -> anyhow::Result<()> {
    init_tracing(config.log_format);
    let conn = db::connect(config).await?;
    if down {
        db::rollback(&conn, steps).await?;
        println!("rolled back");
    } else {
        db::migrate(&conn).await?;
        println!("database is up to date");
    }
    Ok(())
}

/// `gepi seed`: the demo data set, or a generated one of the size asked.
async fn seed_database(
    config: &Config,
    demo: bool,
    (ambiti, households, s): (usize, usize, u64),
    today: Option<chrono::NaiveDate>,
) -> anyhow::Result<()> {
    init_tracing(config.log_format);
    let conn = db::connect(config).await?;
    db::migrate(&conn).await?;
    let today = today.unwrap_or_else(gepi::calendar::today);
    let mut opts = if demo {
        seed::SeedOptions::demo(today)
    } else {
        seed::SeedOptions { ambiti, households, seed: s, today, progress: true }
    };
    opts.progress = true;
    let started = std::time::Instant::now();
    let summary = seed::run(&conn, &opts).await?;
    println!(
        "seeded {} households in {} Ambiti (seed {}) in {:.1} s:\n{summary}",
        opts.households,
        opts.ambiti,
        opts.seed,
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// `gepi policy check|explain`.
async fn policy(command: PolicyCommand) -> anyhow::Result<()> {
    let policy = gepi::authz::Policy::load(&gepi::schema::sdl(), gepi::api::views::OWN_ROW_TYPES).await?;
    match command {
        PolicyCommand::Check => {
            let n = gepi::authz::policy::check_decisions(&policy, gepi::authz::policy::DECISIONS_FILE)
                .map_err(|f| anyhow::anyhow!("decision tests failed:\n  {}", f.join("\n  ")))?;
            let (roles, objects) = gepi::authz::policy::roles_and_objects();
            println!(
                "policies are valid: {roles} roles x {objects} objects, {} field decisions; {n} decision tests pass",
                policy.field_decisions()
            );
        }
        PolicyCommand::Explain { role, object, action } => {
            let role = gepi::authz::vocab::parse_role(&role).map_err(anyhow::Error::msg)?;
            let action = action.parse().map_err(anyhow::Error::msg)?;
            println!("{}", policy.explain(role, &object, action).map_err(anyhow::Error::msg)?);
        }
    }
    Ok(())
}

/// `gepi apikey create|list|revoke|quota|documents`.
async fn apikey(config: &Config, command: ApikeyCommand) -> anyhow::Result<()> {
    let conn = db::connect(config).await?;
    db::migrate(&conn).await?;
    match command {
        ApikeyCommand::Create { name, role, ambito, quota } => {
            let role = gepi::authz::vocab::parse_role(&role).map_err(anyhow::Error::msg)?;
            let k = gepi::auth::api_key::create_with_quota(&conn, &name, role, ambito.as_deref(), quota).await?;
            println!("{}", k.key);
            eprintln!("API key for `{name}` created: it is shown only now; send it as `Authorization: Bearer <key>`.");
        }
        ApikeyCommand::List { json } => {
            let keys = gepi::auth::api_key::list(&conn).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&keys)?);
            } else {
                for k in keys {
                    println!(
                        "{:<30} {:<12} {}…  {}  created {}  {}",
                        k.name,
                        k.role.as_str(),
                        k.key_prefix,
                        k.quota_points_per_hour
                            .map(|q| format!("{q} points/h"))
                            .unwrap_or_else(|| format!("{} points/h (default)", config.api_quota_points_per_hour)),
                        k.created_at.format("%Y-%m-%d"),
                        k.revoked_at
                            .map(|r| format!("revoked {}", r.format("%Y-%m-%d")))
                            .unwrap_or_else(|| "active".into())
                    );
                }
            }
        }
        ApikeyCommand::Revoke { name } => {
            gepi::auth::api_key::revoke(&conn, &name).await?;
            println!("revoked");
        }
        ApikeyCommand::Documents { command: DocumentsCommand::Add { name, files } } => {
            let mut docs = Vec::new();
            for f in &files {
                let text =
                    std::fs::read_to_string(f).map_err(|e| anyhow::anyhow!("cannot read {}: {e}", f.display()))?;
                let label = f.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
                docs.push((label, text));
            }
            let added = gepi::auth::api_key::add_documents(&conn, &name, &docs).await?;
            for id in &added {
                println!("{id}");
            }
            eprintln!(
                "{} document(s) registered for `{}` ({} already were); its key now runs only its registered documents.",
                added.len(),
                name.trim(),
                docs.len() - added.len()
            );
        }
        ApikeyCommand::Documents { command: DocumentsCommand::List { name, json } } => {
            let docs = gepi::auth::api_key::documents(&conn, &name).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&docs)?);
            } else {
                for d in docs {
                    println!("{}  {:<40} {}", d.id, d.name, d.operations.join(", "));
                }
            }
        }
        ApikeyCommand::Documents { command: DocumentsCommand::Remove { name, id } } => {
            gepi::auth::api_key::remove_document(&conn, &name, &id).await?;
            println!("removed");
        }
        ApikeyCommand::Quota { name, points, default } => {
            gepi::auth::api_key::set_quota(&conn, &name, if default { None } else { points }).await?;
            println!("quota of `{}` set", name.trim());
        }
    }
    Ok(())
}

/// `gepi import inps FILE`: the report on standard output, a summary and the
/// progress on standard error; exit status 1 when a row was rejected, 2 when
/// the file was refused whole.
async fn import_inps(config: &Config, file: PathBuf, quiet: bool) -> anyhow::Result<()> {
    let conn = db::connect(config).await?;
    db::migrate(&conn).await?;
    let f = tokio::fs::File::open(&file).await.map_err(|e| anyhow::anyhow!("cannot read {}: {e}", file.display()))?;
    let size = f.metadata().await.map(|m| m.len()).unwrap_or(0);
    let bar = if quiet || !std::io::IsTerminal::is_terminal(&std::io::stderr()) {
        indicatif::ProgressBar::hidden()
    } else {
        let b = indicatif::ProgressBar::new(size);
        b.set_style(
            indicatif::ProgressStyle::with_template("{bar:40} {bytes}/{total_bytes}  {elapsed_precise} eta {eta}")
                .expect("valid template"),
        );
        b
    };
    let started = std::time::Instant::now();
    let reader = tokio::io::BufReader::with_capacity(256 * 1024, f);
    let days = config.transfer_decision_days;
    let report = match gepi::inps::service::import(&conn, gepi::inps::service::Source::Cli, days, reader, |n| {
        bar.set_position(n)
    })
    .await
    {
        Ok(r) => r,
        Err((None, gepi::error::AppError::Validation { field, message })) => {
            bar.finish_and_clear();
            eprintln!(
                "the feed was refused whole{}: {message}",
                field.filter(|f| !f.is_empty()).map(|f| format!(" ({f})")).unwrap_or_default()
            );
            std::process::exit(2);
        }
        Err((job, e)) => {
            bar.finish_and_clear();
            if let Some(job) = job {
                eprintln!(
                        "the import stopped: job {job} is FAILED; what was applied stays, and sending the feed again applies the rest"
                    );
            }
            return Err(e.into());
        }
    };
    bar.finish_and_clear();
    let secs = started.elapsed().as_secs_f64();
    println!("{}", serde_json::to_string_pretty(&report)?);
    eprintln!(
        "feed {}: {} records, {} applied, {} unchanged, {} rejected in {:.1} s ({:.0} records/s); job {}",
        report.feed_id,
        report.received,
        report.applied,
        report.unchanged,
        report.rejected,
        secs,
        report.received as f64 / secs.max(1e-9),
        report.job_id
    );
    if report.rejected > 0 {
        std::process::exit(1);
    }
    Ok(())
}

/// `gepi territory import FILE`.
async fn import_territory(config: &Config, file: std::path::PathBuf) -> anyhow::Result<()> {
    let conn = db::connect(config).await?;
    db::migrate(&conn).await?;
    let text = std::fs::read_to_string(&file).map_err(|e| anyhow::anyhow!("cannot read {}: {e}", file.display()))?;
    let n = gepi::territory::service::import(&conn, &text).await?;
    println!("imported {} Ambiti and {} Comuni", n.ambiti, n.comuni);
    Ok(())
}

/// `gepi conventions add`: for the bootstrap of an installation.
async fn add_convention(config: &Config, command: ConventionsCommand) -> anyhow::Result<()> {
    let ConventionsCommand::Add { comune, kind, signed_on, valid_from, valid_to, file } = command;
    use entity::enums::ConventionKind;
    let kind = match kind.to_ascii_uppercase().as_str() {
        "USO_GEPI" => ConventionKind::UsoGepi,
        "PUC" => ConventionKind::Puc,
        _ => {
            return Err(gepi::error::AppError::validation(
                "--kind",
                format!("`{kind}` is not a kind of convention: USO_GEPI or PUC"),
            )
            .into())
        }
    };
    let unreadable =
        |e: std::io::Error| gepi::error::AppError::validation("--file", format!("cannot read {}: {e}", file.display()));
    let size = std::fs::metadata(&file).map_err(unreadable)?.len();
    if size > gepi::territory::service::MAX_DOCUMENT_BYTES as u64 {
        let limit = gepi::territory::service::MAX_DOCUMENT_BYTES;
        return Err(gepi::error::AppError::validation(
            "--file",
            format!("the document is {size} bytes, the limit is {limit}"),
        )
        .into());
    }
    let document = std::fs::read(&file).map_err(unreadable)?;
    let conn = db::connect(config).await?;
    db::migrate(&conn).await?;
    let c = gepi::territory::service::ConventionInput {
        comune,
        kind,
        signed_on,
        valid_from: valid_from.unwrap_or(signed_on),
        valid_to,
        document,
    };
    let row = gepi::territory::service::cli_add_convention(&conn, &c).await?;
    println!("{}", gepi::ids::encode("Convention", row.id));
    eprintln!("convention recorded (SHA-256 {})", row.document_sha256.unwrap_or_default());
    Ok(())
}

/// `gepi operators add|accredit|revoke`.
async fn operators_command(config: &Config, command: OperatorsCommand) -> anyhow::Result<()> {
    let conn = db::connect(config).await?;
    db::migrate(&conn).await?;
    match command {
        OperatorsCommand::Add { fiscal_code, first_name, last_name, email, phone, ambito } => {
            let p = operators::PersonInput { fiscal_code, first_name, last_name, email, phone };
            let op = operators::cli_add(&conn, &p, ambito.as_deref()).await?;
            println!("{}", gepi::ids::encode("Operator", op.id));
            eprintln!("operator recorded, pending accreditation");
        }
        OperatorsCommand::Accredit { fiscal_code, role, valid_from, valid_to } => {
            let role = gepi::authz::vocab::parse_role(&role).map_err(anyhow::Error::msg)?;
            let from = valid_from.unwrap_or_else(gepi::calendar::today);
            let p = operators::cli_accredit(&conn, &fiscal_code, role, from, valid_to).await?;
            println!("{}", gepi::ids::encode("Profile", p.id));
            eprintln!("{} profile accredited", role.as_str());
        }
        OperatorsCommand::Revoke { fiscal_code } => {
            let o = operators::cli_revoke(&conn, &fiscal_code).await?;
            println!(
                "revoked; left without an owner: {} cases, {} residency checks, {} PUC projects",
                o.cases, o.residency_checks, o.puc_projects
            );
        }
    }
    Ok(())
}

/// `gepi operators [--json]`: every operator with its profiles.
async fn list_operators(config: &Config, json: bool) -> anyhow::Result<()> {
    let conn = db::connect(config).await?;
    let list = operators::listing(&conn).await?;
    if json {
        println!("{}", serde_json::to_string_pretty(&list)?);
    } else {
        for o in &list {
            for p in &o.profiles {
                println!(
                    "{}  {:<28} {:<28} {:<22} {}  [{}]",
                    o.fiscal_code,
                    o.display_name,
                    p.role.as_str(),
                    p.ambito.as_deref().unwrap_or("(national)"),
                    p.profile_id,
                    p.comuni.join(", ")
                );
            }
        }
    }
    Ok(())
}

/// `gepi serve`: the HTTP service (with the demo data and dev login under `--demo`).
async fn serve(
    mut config: Config,
    demo: bool,
    bind: Option<std::net::SocketAddr>,
    no_migrate: bool,
) -> anyhow::Result<()> {
    if let Some(b) = bind {
        config.bind = b;
    }
    if demo {
        config.dev_login = true;
        config.demo = true;
    }
    config.validate_for_serve()?;
    init_tracing(config.log_format);
    let mut conn = db::connect_serving(&config).await?;
    let metrics = gepi::metrics::Metrics::new();
    metrics.count_statements(&mut conn);
    if no_migrate {
        let pending = db::pending_migrations(&conn).await?;
        if let Some(first) = pending.first() {
            anyhow::bail!(
                "the database is {} migration(s) behind this build (the first: {first}); \
                 run `gepi migrate`, or start without --no-migrate",
                pending.len()
            );
        }
    } else {
        db::migrate(&conn).await?;
    }
    if demo && seed::is_empty(&conn).await? {
        let opts = seed::SeedOptions::demo(gepi::calendar::today());
        seed::run(&conn, &opts).await?;
        tracing::info!(households = opts.households, "demo data loaded");
    }
    let bind = config.bind;
    let dev_login = config.dev_login;
    let request_timeout_secs = config.request_timeout_secs;
    if config.audit_signing_key.is_none() {
        if demo {
            // A key for this run only: the demo's checkpoints verify while it runs.
            let key = gepi::tlog::note::Signer::generate("gepi.demo/audit").map_err(anyhow::Error::msg)?;
            println!("  Audit:     checkpoints signed by {} (a key for this demo run)", key.verifier().to_vkey());
            config.audit_signing_key = Some(key.to_skey());
        } else {
            tracing::warn!(
                "no GEPI_AUDIT_SIGNING_KEY: the audit tree is built but no checkpoint is signed, \
                 so nothing outside the database can show the trail was not rewritten"
            );
        }
    }
    let mut chores = db::connect_chores(&config).await?;
    metrics.count_statements(&mut chores);
    tokio::spawn(every_hour(chores.clone(), config.partner_event_retention_days));
    let saml = config.saml.clone();
    // A read replica's reads count as the requests' statements, as the primary's do.
    let replica = db::replica::Replica::connect(&config, |db| metrics.count_statements(db)).await?;
    if let Some(url) = &config.database_replica_url {
        println!("  Replica:   {} (queries read from it when it is current enough)", gepi::config::redact_url(url));
    }
    #[allow(unused_mut)]
    let mut state = AppState::with_metrics(config, conn.clone(), metrics).await?.with_replica(replica);
    tokio::spawn(every_second(chores, state.audit_log.clone()));
    match saml {
        #[cfg(feature = "spid")]
        Some(saml) => {
            let sp = gepi::spid::Sp::load(&saml)?;
            let purged = gepi::spid::purge_expired(&conn, chrono::Utc::now()).await?;
            tracing::info!(idps = sp.idps.len(), purged, profile = ?saml.profile, "SPID login enabled");
            println!(
                "  SPID:      {} (metadata at {}/saml/metadata)",
                saml.entity_id,
                saml.base_url.trim_end_matches('/')
            );
            state = state.with_spid(sp);
        }
        #[cfg(not(feature = "spid"))]
        Some(_) => {
            anyhow::bail!("SAML is configured but this build has no SPID support: build with `--features spid`")
        }
        None => {}
    }
    let listener = tokio::net::TcpListener::bind(bind).await?;
    println!("GePI listening on http://{bind}");
    println!("  GraphiQL:  http://{bind}/graphiql");
    println!("  GraphQL:   http://{bind}/graphql  (Authorization: Bearer <token>)");
    if dev_login {
        print_demo_logins(&conn, bind).await?;
    }
    // The peer address keys the login rate limit.
    let app = gepi::app(state).into_make_service_with_connect_info::<std::net::SocketAddr>();
    // On SIGTERM (or Ctrl-C) the listener closes at once and the requests in
    // flight finish; each is bounded by the request timeout, and the drain by
    // that plus a margin, so a stop never hangs on a stuck connection.
    let drain = std::time::Duration::from_secs(request_timeout_secs + 5);
    let (stopping, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = axum::serve(listener, app).with_graceful_shutdown(async move {
        shutdown_signal().await;
        tracing::info!("stopping: no new connections, draining the requests in flight");
        let _ = stopping.send(());
    });
    tokio::select! {
        served = std::future::IntoFuture::into_future(server) => served?,
        () = async {
            if stopped.await.is_ok() {
                tokio::time::sleep(drain).await;
            } else {
                std::future::pending::<()>().await;
            }
        } => tracing::warn!(seconds = drain.as_secs(), "requests still in flight after the drain: stopping anyway"),
    }
    Ok(())
}

/// The server's hourly chores: validation requests expired by silence go to
/// INPS's change feed, case transfers past their deadline escalate, the
/// change feed's events past their retention go, and (PostgreSQL) the audit
/// trail's partitions of the coming months exist.
/// A failure is logged and tried again the next hour.
async fn every_hour(db: sea_orm::DatabaseConnection, retention_days: u32) {
    let mut tick = tokio::time::interval(std::time::Duration::from_secs(3600));
    loop {
        tick.tick().await;
        match gepi::disadvantage::service::expire_by_silence(&db, gepi::calendar::today()).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(requests = n, "validation requests expired by silence sent to INPS's feed"),
            Err(e) => tracing::warn!(error = %e, "validation requests expired by silence could not be sent"),
        }
        match gepi::transfers::service::escalate_overdue(&db, gepi::calendar::today()).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(transfers = n, "case transfers past their deadline escalated"),
            Err(e) => tracing::warn!(error = %e, "case transfers past their deadline could not be escalated"),
        }
        match gepi::outbox::purge_expired(&db, retention_days).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(deleted = n, retention_days, "partner events past their retention deleted"),
            Err(e) => tracing::warn!(error = %e, "partner events could not be purged"),
        }
        if let Err(e) = gepi::retention::ensure_partitions(&db).await {
            tracing::warn!(error = %e, "the audit trail's partitions of the coming months could not be created");
        }
    }
}

/// The audit tree's sequencer and checkpointer: every second, the events
/// written since into the tree, and a signed checkpoint when one is due. A
/// failure is logged and tried again the next second (the events wait queued).
async fn every_second(db: sea_orm::DatabaseConnection, log: std::sync::Arc<gepi::audit::log::Publisher>) {
    let mut tick = tokio::time::interval(std::time::Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut failing = false;
    loop {
        tick.tick().await;
        // A failure is logged once, not every second, until a round succeeds.
        match log.tick(&db).await {
            Ok((_, c)) => {
                if let Some(c) = c {
                    tracing::debug!(size = c.size, "audit checkpoint signed");
                }
                failing = false;
            }
            Err(e) if !failing => {
                tracing::warn!(error = %e, "the audit tree could not be extended");
                failing = true;
            }
            Err(_) => {}
        }
    }
}

/// `gepi audit keygen|checkpoint|verify`.
async fn audit_command(config: &Config, command: AuditCommand) -> anyhow::Result<()> {
    match command {
        AuditCommand::Keygen { origin } => {
            let key = gepi::tlog::note::Signer::generate(&origin).map_err(anyhow::Error::msg)?;
            println!("{}", key.to_skey());
            eprintln!("verifier key (publish it; `gepi audit verify --key` takes it):\n{}", key.verifier().to_vkey());
            Ok(())
        }
        AuditCommand::Checkpoint => {
            let signer = config
                .audit_signer()?
                .ok_or_else(|| anyhow::anyhow!("set GEPI_AUDIT_SIGNING_KEY to sign checkpoints"))?;
            let conn = db::connect(config).await?;
            db::migrate(&conn).await?;
            let n = gepi::audit::log::sequence_all(&conn).await?;
            let c = gepi::audit::log::checkpoint(
                &conn,
                &signer,
                chrono::Duration::zero(),
                config.audit_checkpoint_dir.as_deref(),
            )
            .await?
            .expect("a checkpoint is always due after zero seconds");
            eprintln!("{n} events added to the tree; checkpoint of size {}", c.size);
            print!("{}", c.note);
            Ok(())
        }
        AuditCommand::Report { fiscal_code, format } => {
            let conn = db::connect(config).await?;
            db::migrate(&conn).await?;
            let ctx = cli_ctx("gepi audit report");
            let report =
                gepi::audit::access::report(&conn, &ctx, gepi::audit::access::Asker::System, &fiscal_code).await?;
            if format == "csv" {
                print!("{}", report.csv());
            } else {
                println!("{}", serde_json::to_string_pretty(&report)?);
            }
            eprintln!("{} events", report.lines.len());
            Ok(())
        }
        AuditCommand::Verify { from_checkpoint, key } => {
            let verifier = match key {
                Some(k) => gepi::tlog::note::Verifier::parse(&k).map_err(anyhow::Error::msg)?,
                None => config.audit_signer()?.map(|s| s.verifier()).ok_or_else(|| {
                    anyhow::anyhow!("give the verifier key with --key, or configure GEPI_AUDIT_SIGNING_KEY")
                })?,
            };
            let mut external = Vec::new();
            for f in &from_checkpoint {
                external.push(std::fs::read_to_string(f).map_err(|e| anyhow::anyhow!("{}: {e}", f.display()))?);
            }
            let conn = db::connect(config).await?;
            let started = std::time::Instant::now();
            let v = gepi::audit::log::verify(&conn, &verifier, &external, 50_000).await?;
            let secs = started.elapsed().as_secs_f64();
            eprintln!(
                "{} leaves and {} checkpoints checked in {secs:.2} s ({:.0} events/s); {} events queued, {} purged by retention",
                v.leaves,
                v.checkpoints,
                v.leaves as f64 / secs.max(1e-9),
                v.queued,
                v.purged
            );
            match v.findings.first() {
                None => {
                    println!("ok: the trail matches its tree and every checkpoint");
                    Ok(())
                }
                Some(first) => {
                    println!("TAMPERED: {first}");
                    for f in v.findings.iter().skip(1).take(20) {
                        println!("  also: {f}");
                    }
                    anyhow::bail!("the audit trail does not match its tree ({} findings)", v.findings.len())
                }
            }
        }
    }
}

/// The audit context of a command: the system acts, and the command is why.
fn cli_ctx(command: &str) -> gepi::audit::AuditContext {
    gepi::audit::AuditContext::unattributed(entity::enums::ActorKind::System, None).during(Some(command.into()))
}

/// `gepi retention run [--dry-run]`.
async fn retention_run(config: &Config, dry_run: bool) -> anyhow::Result<()> {
    let policy = gepi::retention::Policy::load(config.retention_days.as_deref()).map_err(anyhow::Error::msg)?;
    let conn = db::connect(config).await?;
    db::migrate(&conn).await?;
    let ctx = cli_ctx("gepi retention run");
    for r in policy.rules.values() {
        eprintln!("{}: {:?} after {} days from {} ({})", r.category.as_str(), r.action, r.days, r.anchor, r.source);
    }
    let o = gepi::retention::run(&conn, &ctx, &policy, chrono::Utc::now(), dry_run).await?;
    for l in &o.lines {
        println!("{l}");
    }
    let verb = if dry_run { "would be" } else { "were" };
    eprintln!(
        "{} households {verb} anonymised ({} held); {} audit events {verb} deleted ({} held, {} waiting for a checkpoint)",
        o.households_anonymised, o.households_held, o.audit_events_purged, o.audit_events_held, o.audit_events_waiting
    );
    Ok(())
}

/// `gepi hold place|release|list`.
async fn hold_command(config: &Config, command: HoldCommand) -> anyhow::Result<()> {
    let conn = db::connect(config).await?;
    db::migrate(&conn).await?;
    let id_of = |kind: &str, field: &str, s: &str| -> anyhow::Result<uuid::Uuid> {
        s.parse::<uuid::Uuid>()
            .or_else(|_| gepi::ids::decode_uuid(field, kind, s))
            .map_err(|_| anyhow::anyhow!("--{field}: not an id of a {kind}"))
    };
    match command {
        HoldCommand::Place { case, household, fiscal_code, holder, basis } => {
            let scope = match (case, household, fiscal_code) {
                (Some(c), _, _) => gepi::retention::HoldScope::Case(id_of("Case", "case", &c)?),
                (_, Some(h), _) => gepi::retention::HoldScope::Household(id_of("Household", "household", &h)?),
                (_, _, Some(cf)) => gepi::retention::HoldScope::Person(cf),
                _ => anyhow::bail!("name a --case, a --household or a --fiscal-code"),
            };
            let h = gepi::retention::place_hold(&conn, &cli_ctx("gepi hold place"), scope, &holder, &basis).await?;
            println!("{}", h.id);
            eprintln!("hold placed ({})", h.scope);
        }
        HoldCommand::Release { id, reason } => {
            gepi::retention::release_hold(&conn, &cli_ctx("gepi hold release"), id, &reason).await?;
            eprintln!("hold released");
        }
        HoldCommand::List => {
            for h in gepi::retention::holds_in_force(&conn).await? {
                let what = h
                    .case_id
                    .map(|c| format!("case {c}"))
                    .or_else(|| h.fiscal_code.clone().map(|f| format!("person {f}")))
                    .or_else(|| h.household_id.map(|x| format!("household {x}")))
                    .unwrap_or_default();
                println!("{}  {}  {what}  {}  ({})", h.id, h.placed_at.format("%Y-%m-%d"), h.holder, h.legal_basis);
            }
        }
    }
    Ok(())
}

/// One operator per role, with the request that logs in as them.
async fn print_demo_logins(conn: &sea_orm::DatabaseConnection, bind: SocketAddr) -> anyhow::Result<()> {
    let list = operators::one_per_role(conn).await?;
    println!("\nDev login is enabled. Demo operators (one per role; `gepi operators` lists all):");
    for l in &list {
        println!("  {:<28} {}  {:<26} profileId {}", l.role, l.fiscal_code, l.display_name, l.profile_id);
    }
    if let Some(l) = list.first() {
        println!(
            "\nLog in from GraphiQL (http://{bind}/graphiql: the demo login form), or send a token as\n  \
             `Authorization: Bearer <token>`:\n  \
             curl -s -X POST http://{bind}/auth/dev-login -H 'content-type: application/json' \\\n    \
             -d '{{\"fiscalCode\":\"{}\",\"profileId\":\"{}\"}}'\n",
            l.fiscal_code, l.profile_id
        );
    }
    println!(
        "Accreditation, as ambito_admin: addOperator, accreditProfile, changeProfile, changeProfileStatus,\n  \
         changeOperatorStatus, moveDisadvantageValidator, uploadConvention; as ministry_admin: designateAmbitoAdmin.\n  \
         Work left by a revoked operator: the `toReassign` filter of cases, residencyChecks and pucProjects.\n"
    );
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        if let Ok(mut s) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            s.recv().await;
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
}
