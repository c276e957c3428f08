//! `onewindow audit …`: verify the log (live, or an export offline), export it, print its key.

use std::path::{Path, PathBuf};

use anyhow::Context as _;

use super::{runtime, StorageArgs};
use crate::audit::export::{self, Line};
use crate::audit::AuditEntry;
use crate::storage::Store;

#[derive(Debug, clap::Args)]
pub(crate) struct VerifyArgs {
    #[command(flatten)]
    storage: StorageArgs,
    /// Verify this export (from `audit export`) instead, with no server and no database.
    #[arg(long, value_name = "FILE", requires = "key")]
    offline: Option<PathBuf>,
    /// The log's verifier key (`audit key`, or `GET /api/v1/audit/key`): its text, or a file
    /// holding it. Needed with `--offline`; on a data directory, its own key is used.
    #[arg(long, value_name = "VKEY")]
    key: Option<String>,
    /// A file holding a checkpoint kept earlier (`GET /api/v1/audit/checkpoint`): the log must
    /// still hold exactly what it signed.
    #[arg(long, value_name = "FILE")]
    checkpoint: Option<PathBuf>,
}

/// The text of `--key`: the key itself, or the file it names.
fn key_text(key: &str) -> anyhow::Result<String> {
    let path = Path::new(key);
    if !key.contains('+') && path.is_file() {
        return Ok(std::fs::read_to_string(path).with_context(|| format!("reading the key file {}", path.display()))?.trim().to_string());
    }
    Ok(key.trim().to_string())
}

fn kept_checkpoint(path: Option<&Path>) -> anyhow::Result<Option<String>> {
    path.map(|p| std::fs::read_to_string(p).with_context(|| format!("reading the kept checkpoint {}", p.display()))).transpose()
}

fn report(verified: &export::Verified, rehashed: Option<Rehashed>) {
    println!("audit log verified: {} entries, Merkle root {}", verified.entries, hex::encode(verified.root));
    println!("{} signed checkpoints, all consistent; {} documents listed", verified.checkpoints, verified.blobs);
    if let Some(r) = rehashed {
        println!(
            "re-hashed: {} stored documents and {} decision records, and {} permits checked, each as its entry names it",
            r.documents, r.decisions, r.permits
        );
    }
    match verified.signed_size {
        Some(size) if size == verified.entries => println!("every entry is covered by a signed checkpoint"),
        Some(size) => println!("entries {} to {} are not yet covered by a signed checkpoint", size + 1, verified.entries),
        None => println!("no signed checkpoint covers the log yet"),
    }
}

pub(crate) fn verify(args: VerifyArgs) -> anyhow::Result<()> {
    let kept = kept_checkpoint(args.checkpoint.as_deref())?;
    if let Some(file) = &args.offline {
        let key = key_text(args.key.as_deref().unwrap_or_default())?;
        let input = std::fs::File::open(file).with_context(|| format!("opening {}", file.display()))?;
        let lines = export::read(std::io::BufReader::new(input))?;
        let verified = export::verify(&lines, &key, kept.as_deref())?;
        report(&verified, None);
        return Ok(());
    }
    existing(&args.storage)?;
    let key_file = args.storage.data_dir.join(crate::audit::checkpoint::KEY_FILE);
    anyhow::ensure!(
        args.key.is_some() || key_file.exists(),
        "no signing key at {} (give --key): nothing to verify with",
        key_file.display()
    );
    runtime()?.block_on(async {
        let (store, blobs) =
            crate::app::open_storage(&args.storage.data_dir, args.storage.database_url.as_deref(), args.storage.blob_store.as_deref())
                .await?;
        let (lines, mut origin, tree) = export_lines(store.as_ref(), &blobs).await?;
        if origin.is_empty() {
            // No checkpoint kept yet: the one the auditor kept names the log.
            origin = kept.as_deref().and_then(|n| n.lines().next()).unwrap_or_default().to_string();
        }
        let key = match &args.key {
            Some(key) => key_text(key)?,
            None => crate::audit::checkpoint::LogSigner::load_or_create(&args.storage.data_dir, &origin)
                .context("reading the signing key")?
                .verifier_key(),
        };
        let owned: Vec<AuditEntry> = lines.iter().filter_map(|l| if let Line::Entry(e) = l { Some(e.clone()) } else { None }).collect();
        crate::audit::verify_chain(&owned)?;
        let (size, root) = tree;
        crate::audit::verify_tree(&owned, size, &root)?;
        let verified = export::verify(&lines, &key, kept.as_deref())?;
        let rehashed = rehash(store.as_ref(), &blobs, &owned).await?;
        report(&verified, Some(rehashed));
        Ok(())
    })
}

/// Re-hashes what the entries point to: every stored document an upload's entry names (read
/// back and checked against its hash, and its row against the entry), every machine decision's
/// record against the hash its entry holds, and every permit's number, dates and standing against
/// its issue and revocation entries. An edited file or row is named, with the entry that vouches
/// for it. (A person's review decision is logged with its written notice's hash only: the notice is
/// not kept apart from the review row, so that row is not re-hashed.)
async fn rehash(store: &dyn Store, blobs: &crate::storage::BlobStore, entries: &[AuditEntry]) -> anyhow::Result<Rehashed> {
    let (mut documents, mut decisions, mut permits) = (0, 0, 0);
    let application = |entry: &AuditEntry| {
        let id = entry.application_id.as_deref().unwrap_or_default();
        crate::domain::application::ApplicationId::parse(id).with_context(|| format!("audit entry {}: application id {id:?}", entry.seq))
    };
    for entry in entries {
        let payload: serde_json::Value = serde_json::from_str(&entry.payload).unwrap_or_default();
        let text = |key: &str| payload.get(key).and_then(|v| v.as_str()).map(str::to_string);
        match entry.kind.as_str() {
            "document.stored" => {
                let sha256 = text("sha256").with_context(|| format!("audit entry {} names no document hash", entry.seq))?;
                blobs
                    .get(&sha256)
                    .await
                    .with_context(|| format!("document {sha256} (audit entry {}): missing or changed on disk", entry.seq))?;
                // The document's row too: the file it names and its size, as logged.
                let id = application(entry)?;
                let document_id = payload.get("document_id").and_then(serde_json::Value::as_i64);
                let size = payload.get("size_bytes").and_then(serde_json::Value::as_i64);
                let row = store.documents(&id).await?.into_iter().find(|d| Some(d.id) == document_id);
                anyhow::ensure!(
                    row.as_ref().is_some_and(|d| d.sha256 == sha256 && Some(d.size_bytes) == size),
                    "the record of document {document_id:?} of application {id} (audit entry {}): missing or changed since it was logged",
                    entry.seq
                );
                documents += 1;
            }
            "permit.issued" => {
                let id = application(entry)?;
                let permit = store.permit_for(&id).await?;
                let logged = |key: &str| payload.get(key).and_then(|v| v.as_str());
                anyhow::ensure!(
                    permit.as_ref().is_some_and(|p| Some(p.number.as_str()) == logged("number")
                        && Some(p.valid_from.as_str()) == logged("valid_from")
                        && Some(p.valid_to.as_str()) == logged("valid_to")),
                    "the permit of application {id} (audit entry {}): missing or changed since it was logged",
                    entry.seq
                );
                let revoked = entries.iter().any(|e| e.kind == "permit.revoked" && e.application_id == entry.application_id);
                anyhow::ensure!(
                    permit.is_some_and(|p| (p.status == "revoked") == revoked),
                    "the permit of application {id} (audit entry {}): its status does not match the log's revocations",
                    entry.seq
                );
                permits += 1;
            }
            "application.decided" => {
                let Some(expected) = text("decision_sha256") else { continue };
                let id = application(entry)?;
                let submission = payload.get("submission").and_then(serde_json::Value::as_i64);
                let found = store
                    .decisions(&id)
                    .await?
                    .into_iter()
                    .any(|d| Some(d.submission_seq) == submission && crate::domain::sha256_hex(d.decision.as_bytes()) == expected);
                anyhow::ensure!(
                    found,
                    "the decision record of application {id}, submission {submission:?} (audit entry {}): missing or changed since it was logged",
                    entry.seq
                );
                decisions += 1;
            }
            _ => {}
        }
    }
    Ok(Rehashed { documents, decisions, permits })
}

/// What the live verification read back and found as logged.
struct Rehashed {
    documents: usize,
    decisions: usize,
    permits: usize,
}

/// The export's lines of a live store (entries, checkpoints and tree from one snapshot), the
/// log's origin as its checkpoints name it, and the stored tree's size and root.
async fn export_lines(
    store: &dyn Store,
    blobs: &crate::storage::BlobStore,
) -> anyhow::Result<(Vec<Line>, String, (u64, crate::audit::merkle::Hash))> {
    let snapshot = store.audit_snapshot().await?;
    let (entries, checkpoints) = (snapshot.entries, snapshot.checkpoints);
    let origin = checkpoints.last().and_then(|(_, note)| note.lines().next()).unwrap_or_default().to_string();
    // Every document an entry names, read back and hashed: an edited or lost file is exported as
    // it is found, for the verifier to name.
    let mut documents = std::collections::BTreeMap::new();
    for (_, sha256, _) in export::named_documents(&entries) {
        let (content_sha256, size_bytes) = blobs.content_hash(&sha256).await.unwrap_or_else(|_| ("missing".into(), 0));
        documents.insert(sha256.clone(), export::StoredBlob { sha256, content_sha256, size_bytes });
    }
    let lines = export::lines(&origin, entries, documents.into_values().collect(), checkpoints);
    Ok((lines, origin, (snapshot.tree_size, snapshot.root)))
}

/// A mistyped data directory is an error, not an empty log that verifies.
fn existing(storage: &StorageArgs) -> anyhow::Result<()> {
    let db = storage.data_dir.join("onewindow.db");
    anyhow::ensure!(storage.database_url.is_some() || db.exists(), "no database at {}", db.display());
    Ok(())
}

pub(crate) fn export(storage: &StorageArgs, out: &Path) -> anyhow::Result<()> {
    existing(storage)?;
    runtime()?.block_on(async {
        let (store, blobs) =
            crate::app::open_storage(&storage.data_dir, storage.database_url.as_deref(), storage.blob_store.as_deref()).await?;
        let (lines, ..) = export_lines(store.as_ref(), &blobs).await?;
        let count = |f: fn(&Line) -> bool| lines.iter().filter(|l| f(l)).count();
        let (entries, checkpoints) = (count(|l| matches!(l, Line::Entry(_))), count(|l| matches!(l, Line::Checkpoint { .. })));
        let file = std::fs::File::create(out).with_context(|| format!("creating {}", out.display()))?;
        let mut writer = std::io::BufWriter::new(file);
        export::write(&mut writer, &lines)?;
        std::io::Write::flush(&mut writer)?;
        println!("exported {entries} entries and {checkpoints} checkpoints to {}", out.display());
        Ok(())
    })
}

pub(crate) fn key(storage: &StorageArgs, public_url: &str, audit_origin: Option<String>) -> anyhow::Result<()> {
    let origin = audit_origin.unwrap_or_else(|| crate::audit::checkpoint::default_origin(public_url));
    std::fs::create_dir_all(&storage.data_dir).with_context(|| format!("creating {}", storage.data_dir.display()))?;
    let signer = crate::audit::checkpoint::LogSigner::load_or_create(&storage.data_dir, &origin).context("reading the signing key")?;
    println!("{}", signer.verifier_key());
    Ok(())
}

/// How a replayed decision differs from the recorded one.
pub(crate) fn difference(report: &crate::replay::ReplayReport) -> String {
    let values = report.difference.as_ref().map(|(was, now)| format!(" (recorded {was}, replayed {now})")).unwrap_or_default();
    format!(
        "recorded sha256 {}, replayed sha256 {}, first difference in `{}`{values}",
        report.recorded_sha256,
        report.replayed_sha256,
        report.first_difference.as_deref().unwrap_or("?")
    )
}

/// `replay --all`: every application the log records a machine decision of, in log order, each
/// machine decision under its own stored rule set (a person's decision is a judgement, not
/// re-decided); a progress bar on a terminal, then every difference and every application that
/// could not be replayed.
pub(crate) fn replay_all(storage: &StorageArgs, limits: &crate::config::LimitsConfig) -> anyhow::Result<()> {
    runtime()?.block_on(async {
        let (store, blobs) =
            crate::app::open_storage(&storage.data_dir, storage.database_url.as_deref(), storage.blob_store.as_deref()).await?;
        let inference = crate::app::Inference::load(limits)?;
        let (mut ids, mut seen): (Vec<String>, std::collections::HashSet<String>) = Default::default();
        for entry in store.audit_entries().await? {
            if let (true, Some(id)) = (entry.kind == "application.decided", entry.application_id) {
                if seen.insert(id.clone()) {
                    ids.push(id);
                }
            }
        }
        let bar = indicatif::ProgressBar::new(ids.len() as u64);
        bar.set_style(
            indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} applications, {elapsed} ({eta} left)")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        let (mut decisions, mut differing, mut failed) = (0, Vec::new(), Vec::new());
        for id in &ids {
            let replayed = match crate::domain::application::ApplicationId::parse(id) {
                Some(parsed) => crate::replay::replay(store.as_ref(), &blobs, limits, inference.clone(), crate::app::this_exe()?, &parsed)
                    .await
                    .map_err(|e| e.to_string()),
                None => Err("not an application id".to_string()),
            };
            match replayed {
                Ok(reports) => {
                    decisions += reports.len();
                    for report in reports.iter().filter(|r| !r.reproduced) {
                        differing.push(format!("{id} submission {}: {}", report.submission, difference(report)));
                    }
                }
                Err(error) => failed.push(format!("{id}: not replayed: {error}")),
            }
            bar.inc(1);
        }
        bar.finish_and_clear();
        for line in differing.iter().chain(&failed) {
            println!("{line}");
        }
        println!(
            "{} applications, {decisions} machine decisions replayed: {} differ, {} applications not replayed",
            ids.len(),
            differing.len(),
            failed.len()
        );
        anyhow::ensure!(differing.is_empty() && failed.is_empty(), "replay did not reproduce every recorded decision");
        Ok(())
    })
}
