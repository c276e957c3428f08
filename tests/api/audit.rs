//! The audit trail: every step is logged in the same transaction, the chain verifies, a changed
//! byte is found and named, and a recorded decision replays byte for byte.

use std::process::Command;

use crate::helpers::{data_db, onewindow_exe, spawn_app_with, AppOptions, Fixture};

#[tokio::test]
async fn the_log_verifies_names_a_tampered_entry_and_decisions_replay() {
    // `onewindow replay` decides again with the shipped models, so the app decides with them too.
    let app = spawn_app_with(AppOptions::with_shipped_models()).await;
    let fixture = Fixture::load("ph-10-2");
    let id = app.create_ok(&fixture.form).await;
    app.upload(&id, &fixture.files).await;
    app.submit(&id, "k").await;
    app.wait_for_decisions(&id, 1).await;
    let (data_dir, _temp) = app.stop().await;

    let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}", data_db(&data_dir).display())).await.unwrap();
    let kinds: Vec<String> = sqlx::query_scalar("SELECT kind FROM audit_log ORDER BY seq").fetch_all(&pool).await.unwrap();
    assert_eq!(kinds.first().map(String::as_str), Some("user.created"), "the test's applicant account");
    assert_eq!(kinds.get(1).map(String::as_str), Some("application.created"));
    assert_eq!(kinds.iter().filter(|k| *k == "document.stored").count(), fixture.files.len());
    assert!(kinds.contains(&"application.submitted".to_string()));
    assert_eq!(kinds.last().map(String::as_str), Some("application.decided"));

    let run = |args: &[&str]| Command::new(onewindow_exe()).args(args).arg("--data-dir").arg(&data_dir).output().unwrap();
    let verify = run(&["audit", "verify"]);
    assert!(verify.status.success(), "{}", String::from_utf8_lossy(&verify.stderr));
    let replay = run(&["replay", &id]);
    assert!(replay.status.success(), "{}{}", String::from_utf8_lossy(&replay.stdout), String::from_utf8_lossy(&replay.stderr));
    assert!(String::from_utf8_lossy(&replay.stdout).contains("reproduced byte for byte"));
    let everything = run(&["replay", "--all"]);
    let said = String::from_utf8_lossy(&everything.stdout).to_string();
    assert!(
        everything.status.success() && said.contains("1 applications, 1 machine decisions replayed: 0 differ, 0 applications not replayed"),
        "{said}"
    );

    // One changed byte in entry 3's payload.
    sqlx::query("UPDATE audit_log SET payload = replace(payload, 'pdf', 'pdF') WHERE seq = 3").execute(&pool).await.unwrap();
    let verify = run(&["audit", "verify"]);
    assert!(!verify.status.success());
    assert!(String::from_utf8_lossy(&verify.stderr).contains("audit entry 3"), "{}", String::from_utf8_lossy(&verify.stderr));

    // A recorded decision that was altered no longer replays.
    sqlx::query("UPDATE decisions SET decision = replace(decision, '\"needs_review\"', '\"issued\"')").execute(&pool).await.unwrap();
    let replay = run(&["replay", &id]);
    assert!(!replay.status.success());
    assert!(String::from_utf8_lossy(&replay.stdout).contains("NOT reproduced"));
    let everything = run(&["replay", "--all"]);
    let said = String::from_utf8_lossy(&everything.stdout).to_string();
    assert!(!everything.status.success() && said.contains(&format!("{id} submission 1:")) && said.contains("1 differ"), "{said}");
    assert!(said.contains("first difference in `outcome`"), "{said}");
}

/// Regression (issue 21): an entry's payload edited and every later hash recomputed by the chain's
/// own formula left a log that `audit verify` passed. The Merkle tree stored beside it no longer
/// matches, and every entry's inclusion proof from the API verifies against the stored root.
#[tokio::test]
async fn a_rechained_log_fails_verification_and_every_entry_has_an_inclusion_proof() {
    use base64::Engine as _;
    use onewindow::audit::merkle;
    let app = crate::helpers::spawn_app().await;
    let id = app.submit_fixture("clean-catering-stsong", "k").await;
    app.wait_for_decisions(&id, 1).await;
    let entries = app.state.usecases().store().audit_entries().await.unwrap();
    let (size, root) = onewindow::storage::tree_head(app.state.usecases().store()).await.unwrap();
    assert_eq!(size, entries.len() as u64);
    let decode = |h: &serde_json::Value| -> merkle::Hash {
        base64::engine::general_purpose::STANDARD.decode(h.as_str().unwrap()).unwrap().try_into().unwrap()
    };
    for entry in &entries {
        let index = entry.leaf_index();
        let proof: serde_json::Value = app
            .client
            .get(app.url(&format!("/api/v1/audit/proof/inclusion?index={index}&tree_size={size}")))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let hashes: Vec<merkle::Hash> = proof["hashes"].as_array().unwrap_or_else(|| panic!("{proof}")).iter().map(decode).collect();
        merkle::verify_inclusion(index, size, &merkle::leaf_hash(&entry.leaf_bytes()), &hashes, &root).unwrap();
    }
    let consistency: serde_json::Value = app
        .client
        .get(app.url(&format!("/api/v1/audit/proof/consistency?first=2&second={size}")))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let hashes: Vec<merkle::Hash> = consistency["hashes"].as_array().unwrap().iter().map(decode).collect();
    let mut first_two = merkle::MemoryTree::default();
    entries[..2].iter().for_each(|e| first_two.push(&e.leaf_bytes()));
    merkle::verify_consistency(2, size, &hashes, &merkle::root(&first_two, 2).unwrap(), &root).unwrap();
    let past = app.client.get(app.url(&format!("/api/v1/audit/proof/inclusion?index=0&tree_size={}", size + 1))).send().await.unwrap();
    assert_eq!(past.status(), 400, "no proof for a tree larger than the log");
    let (data_dir, _temp) = app.stop().await;

    let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}", data_db(&data_dir).display())).await.unwrap();
    let run = || Command::new(onewindow_exe()).args(["audit", "verify", "--data-dir"]).arg(&data_dir).output().unwrap();
    let verified = run();
    assert!(verified.status.success() && String::from_utf8_lossy(&verified.stdout).contains("Merkle root"));
    let rewritten = rewrite_entry_3_and_rechain(&pool).await;
    assert!(onewindow::audit::verify_chain(&rewritten).is_ok(), "the chain alone is fooled");
    let verified = run();
    assert!(!verified.status.success());
    assert!(String::from_utf8_lossy(&verified.stderr).contains("Merkle tree"), "{}", String::from_utf8_lossy(&verified.stderr));
}

/// The log's signed checkpoint verifies with the key `audit key` prints and the API serves; it
/// is kept and served again while the log does not grow; a later one is consistent with it.
#[tokio::test]
async fn signed_checkpoints_verify_with_the_served_key_and_stay_consistent() {
    use base64::Engine as _;
    use onewindow::audit::{checkpoint, merkle};
    let app = crate::helpers::spawn_app().await;
    let key = app.client.get(app.url("/api/v1/audit/key")).send().await.unwrap().text().await.unwrap();
    let printed = Command::new(onewindow_exe())
        .args(["audit", "key", "--public-url", "https://onewindow.example.gov.cn", "--data-dir"])
        .arg(&app.data_dir)
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&printed.stdout), key, "the command and the service name one key");
    assert!(key.starts_with("onewindow.example.gov.cn/audit+"), "{key}");
    let note = |app: &crate::helpers::TestApp| {
        let url = app.url("/api/v1/audit/checkpoint");
        let client = app.client.clone();
        async move { client.get(url).send().await.unwrap().text().await.unwrap() }
    };
    let first = note(&app).await;
    let first_cp = checkpoint::verify(&first, &key).unwrap();
    assert_eq!(note(&app).await, first, "kept while the log does not grow");
    assert_eq!((first_cp.size, first_cp.root), onewindow::storage::tree_head(app.state.usecases().store()).await.unwrap());

    let id = app.submit_fixture("clean-catering-stsong", "k").await;
    app.wait_for_decisions(&id, 1).await;
    let second_cp = checkpoint::verify(&note(&app).await, &key).unwrap();
    assert!(second_cp.size > first_cp.size);
    let proof: serde_json::Value = app
        .client
        .get(app.url(&format!("/api/v1/audit/proof/consistency?first={}&second={}", first_cp.size, second_cp.size)))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let hashes: Vec<merkle::Hash> = proof["hashes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| base64::engine::general_purpose::STANDARD.decode(h.as_str().unwrap()).unwrap().try_into().unwrap())
        .collect();
    merkle::verify_consistency(first_cp.size, second_cp.size, &hashes, &first_cp.root, &second_cp.root).unwrap();
    let tampered = note(&app).await.replacen(&second_cp.size.to_string(), &(second_cp.size + 1).to_string(), 1);
    assert!(checkpoint::verify(&tampered, &key).is_err(), "a checkpoint with a changed size is refused");

    // An auditor rebuilds the tree from the entries' own bytes and gets the checkpoint's root.
    let auditor = crate::helpers::add_user(&app.state, onewindow::domain::user::Role::Auditor).await;
    let path = format!("/api/v1/audit/entries?start=0&end={}", second_cp.size);
    let entries: serde_json::Value = app.client.get(app.url(&path)).bearer_auth(&auditor).send().await.unwrap().json().await.unwrap();
    let mut rebuilt = merkle::MemoryTree::default();
    for (i, e) in entries["entries"].as_array().unwrap().iter().enumerate() {
        assert_eq!(e["index"].as_u64(), Some(i as u64));
        rebuilt.push(&base64::engine::general_purpose::STANDARD.decode(e["data"].as_str().unwrap()).unwrap());
    }
    assert_eq!(merkle::root(&rebuilt, rebuilt.size()).unwrap(), second_cp.root);
    assert_eq!(app.client.get(app.url(&path)).bearer_auth(&app.token).send().await.unwrap().status(), 403, "not for applicants");
    let too_many = app.client.get(app.url("/api/v1/audit/entries?start=0&end=1001")).bearer_auth(&auditor).send().await.unwrap();
    assert_eq!(too_many.status(), 400);
}

/// An auditor keeps the served checkpoint and key; the log's export then verifies offline. A
/// document edited on disk and a decision record edited in the database are each named by the
/// live `audit verify`; a log rewritten wholesale (an entry changed, the chain, the tree and the
/// checkpoints made again, as one who can write the data directory but has no key would) passes
/// every check of its own, and fails against the checkpoint the auditor kept, live and offline.
#[tokio::test]
async fn an_export_verifies_offline_and_edits_to_documents_records_or_the_whole_log_are_found() {
    let app = crate::helpers::spawn_app().await;
    let id = app.submit_fixture("clean-catering-stsong", "k").await;
    app.wait_for_decisions(&id, 1).await;
    let text = |path: &str| {
        let url = app.url(path);
        let client = app.client.clone();
        async move { client.get(url).send().await.unwrap().text().await.unwrap() }
    };
    let (kept, key) = (text("/api/v1/audit/checkpoint").await, text("/api/v1/audit/key").await);
    let (data_dir, _temp) = app.stop().await;
    let files = tempfile::tempdir().unwrap();
    let (kept_file, key_file, out) = (files.path().join("kept.txt"), files.path().join("vkey.txt"), files.path().join("log.jsonl"));
    std::fs::write(&kept_file, &kept).unwrap();
    std::fs::write(&key_file, &key).unwrap();
    let run = |args: &[&str]| {
        let output = Command::new(onewindow_exe()).args(args).env("ONEWINDOW_DATA_DIR", &data_dir).output().unwrap();
        (output.status.success(), String::from_utf8_lossy(&output.stdout).to_string() + &String::from_utf8_lossy(&output.stderr))
    };
    let path = |p: &std::path::Path| p.to_str().unwrap().to_string();
    let (ok, said) = run(&["audit", "export", "--out", &path(&out)]);
    assert!(ok, "{said}");
    for key in [key.trim().to_string(), path(&key_file)] {
        let (ok, said) = run(&["audit", "verify", "--offline", &path(&out), "--key", &key, "--checkpoint", &path(&kept_file)]);
        assert!(ok && said.contains("audit log verified"), "{said}");
    }
    let (ok, said) = run(&["audit", "verify", "--checkpoint", &path(&kept_file)]);
    assert!(ok && said.contains("re-hashed: 5 stored documents and 1 decision records, and 1 permits checked"), "{said}");

    // A document edited on disk, then put back.
    let blob = crate::helpers::files_under(&data_dir.join("blobs")).into_iter().next().unwrap();
    let original = std::fs::read(&blob).unwrap();
    std::fs::write(&blob, [&original[..], b" "].concat()).unwrap();
    let (ok, said) = run(&["audit", "verify"]);
    assert!(!ok && said.contains("on disk") && said.contains(blob.file_name().unwrap().to_str().unwrap()), "{said}");
    let edited = files.path().join("edited.jsonl");
    assert!(run(&["audit", "export", "--out", &path(&edited)]).0, "an export is made of what is found");
    let (ok, said) = run(&["audit", "verify", "--offline", &path(&edited), "--key", key.trim()]);
    assert!(!ok && said.contains("changed or lost on disk"), "offline too: {said}");
    std::fs::write(&blob, &original).unwrap();

    // A decision record edited in the database.
    let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}", data_db(&data_dir).display())).await.unwrap();
    sqlx::query("UPDATE decisions SET decision = replace(decision, '\"issued\"', '\"refused\"')").execute(&pool).await.unwrap();
    let (ok, said) = run(&["audit", "verify"]);
    assert!(!ok && said.contains("decision record"), "{said}");
    sqlx::query("UPDATE decisions SET decision = replace(decision, '\"refused\"', '\"issued\"')").execute(&pool).await.unwrap();
    assert!(run(&["audit", "verify"]).0, "put back, it verifies again");
    // A permit's validity lengthened in the database.
    let valid_to: String = sqlx::query_scalar("SELECT valid_to FROM permits").fetch_one(&pool).await.unwrap();
    sqlx::query("UPDATE permits SET valid_to = '2099-12-31'").execute(&pool).await.unwrap();
    let (ok, said) = run(&["audit", "verify"]);
    assert!(!ok && said.contains("the permit of application"), "{said}");
    sqlx::query("UPDATE permits SET valid_to = ?").bind(&valid_to).execute(&pool).await.unwrap();

    // The whole log rewritten: entry 3 changed, the chain made again, the tree and checkpoints dropped
    // (the tree is rebuilt from the entries on the next start).
    rewrite_entry_3_and_rechain(&pool).await;
    sqlx::query("DELETE FROM audit_tree").execute(&pool).await.unwrap();
    sqlx::query("DELETE FROM audit_checkpoints").execute(&pool).await.unwrap();
    pool.close().await;
    let (ok, said) = run(&["audit", "verify"]);
    assert!(ok, "without the kept checkpoint the rewrite is consistent in itself: {said}");
    let (ok, said) = run(&["audit", "verify", "--checkpoint", &path(&kept_file)]);
    assert!(!ok && said.contains("rewritten"), "{said}");
    let (ok, said) = run(&["audit", "export", "--out", &path(&out)]);
    assert!(ok, "{said}");
    let (ok, said) = run(&["audit", "verify", "--offline", &path(&out), "--key", key.trim(), "--checkpoint", &path(&kept_file)]);
    assert!(!ok && said.contains("rewritten"), "{said}");
}

/// The service signs the log's growth by itself: after a decision, a checkpoint covering every
/// entry is kept within a few seconds, with no request for one.
#[tokio::test]
async fn the_log_is_checkpointed_after_appends_without_a_request() {
    let app = crate::helpers::spawn_app().await;
    let id = app.submit_fixture("clean-catering-stsong", "k").await;
    app.wait_for_decisions(&id, 1).await;
    let store = app.state.usecases().store();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    loop {
        let size = store.tree_size().await.unwrap();
        let kept = store.latest_checkpoint().await.unwrap().map(|(s, _)| s);
        if kept == Some(size) {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "no checkpoint of {size} entries kept (latest {kept:?})");
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    let (_, note) = store.latest_checkpoint().await.unwrap().unwrap();
    onewindow::audit::checkpoint::verify(&note, &app.state.signer().verifier_key()).unwrap();
}

/// A permit's issue is found in the log from the application's JSON and from the public
/// verification, with an inclusion proof that verifies against the signed checkpoint served with
/// it; the verification page shows it.
#[tokio::test]
async fn a_permits_log_index_and_inclusion_proof_verify_against_the_signed_checkpoint() {
    use base64::Engine as _;
    use onewindow::audit::{checkpoint, merkle};
    let app = crate::helpers::spawn_app().await;
    let id = app.submit_fixture("clean-catering-stsong", "k").await;
    let application = app.wait_for_decisions(&id, 1).await;
    assert_eq!(application["state"], "issued");
    let index = application["log"]["permit"].as_u64().expect("the permit's log index");
    assert_eq!(application["log"]["decisions"].as_array().map(Vec::len), Some(1));
    let number = application["permit"]["number"].as_str().unwrap().to_string();
    let path = format!("/api/v1/permits/{}/verify?log={index}", urlencoding(&number));
    let body: serde_json::Value = app.client.get(app.url(&path)).send().await.unwrap().json().await.unwrap();
    let log = &body["log"];
    assert_eq!((log["index"].as_u64(), body["log_matches"].as_bool()), (Some(index), Some(true)), "{body}");
    let key = app.client.get(app.url("/api/v1/audit/key")).send().await.unwrap().text().await.unwrap();
    let signed = checkpoint::verify(log["checkpoint"].as_str().unwrap(), &key).unwrap();
    assert_eq!(signed.size, log["tree_size"].as_u64().unwrap());
    let decode = |h: &serde_json::Value| -> merkle::Hash {
        base64::engine::general_purpose::STANDARD.decode(h.as_str().unwrap()).unwrap().try_into().unwrap()
    };
    let hashes: Vec<merkle::Hash> = log["inclusion"].as_array().unwrap().iter().map(decode).collect();
    let entry = app.state.usecases().store().audit_range(index, index + 1).await.unwrap().pop().unwrap();
    assert_eq!(entry.kind, "permit.issued");
    assert_eq!(decode(&log["leaf_hash"]), merkle::leaf_hash(&entry.leaf_bytes()));
    merkle::verify_inclusion(index, signed.size, &merkle::leaf_hash(&entry.leaf_bytes()), &hashes, &signed.root).unwrap();
    let wrong = format!("/api/v1/permits/{}/verify?log={}", urlencoding(&number), index + 1);
    let body: serde_json::Value = app.client.get(app.url(&wrong)).send().await.unwrap().json().await.unwrap();
    assert_eq!(body["log_matches"].as_bool(), Some(false), "a certificate naming another entry is told apart");
}

fn urlencoding(text: &str) -> String {
    text.bytes().map(|b| if b.is_ascii_alphanumeric() { (b as char).to_string() } else { format!("%{b:02X}") }).collect()
}

/// The log's name is fixed by its checkpoints: a service started with another origin refuses to
/// start (its checkpoints could no longer be checked with one verifier key), and says how to keep it.
#[tokio::test]
async fn a_service_renaming_its_log_refuses_to_start() {
    let app = crate::helpers::spawn_app().await;
    let kept = app.client.get(app.url("/api/v1/audit/checkpoint")).send().await.unwrap().text().await.unwrap();
    let origin = kept.lines().next().unwrap().to_string();
    let (data_dir, _temp) = app.stop().await;
    let mut child = Command::new(onewindow_exe())
        .args(["serve", "--listen", "127.0.0.1:0", "--audit-origin", "renamed.example/audit", "--data-dir"])
        .arg(&data_dir)
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if std::time::Instant::now() > deadline {
            child.kill().unwrap();
            panic!("a renamed log was served");
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    };
    let mut stderr = String::new();
    std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut stderr).unwrap();
    assert!(!status.success() && stderr.contains(&format!("--audit-origin {origin}")), "{stderr}");
}

/// A log cut short outside the service (its last entry deleted, as a restored older copy of the
/// table would be) is named when the store opens, before anything is appended after the gap.
#[tokio::test]
async fn a_log_cut_short_is_named_before_anything_is_appended() {
    let app = crate::helpers::spawn_app().await;
    let id = app.submit_fixture("clean-catering-stsong", "k").await;
    app.wait_for_decisions(&id, 1).await;
    let (data_dir, _temp) = app.stop().await;
    let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}", data_db(&data_dir).display())).await.unwrap();
    sqlx::query("DELETE FROM audit_log WHERE seq = (SELECT MAX(seq) FROM audit_log)").execute(&pool).await.unwrap();
    pool.close().await;
    let verify = Command::new(onewindow_exe()).args(["audit", "verify", "--data-dir"]).arg(&data_dir).output().unwrap();
    let said = String::from_utf8_lossy(&verify.stderr);
    assert!(!verify.status.success() && said.contains("cut short"), "{said}");
}

/// Rewrites entry 3's payload in the database and every later entry's chain hashes by the chain's
/// own formula, as one who can write the database but has no key would; the entries as rewritten.
async fn rewrite_entry_3_and_rechain(pool: &sqlx::SqlitePool) -> Vec<onewindow::audit::AuditEntry> {
    use onewindow::audit::{entry_hash, AuditEntry};
    let mut entries: Vec<AuditEntry> = sqlx::query_as("SELECT * FROM audit_log ORDER BY seq").fetch_all(pool).await.unwrap();
    entries[2].payload = entries[2].payload.replace("pdf", "pdF");
    for i in 2..entries.len() {
        let prev = entries[i - 1].hash.clone();
        let e = &mut entries[i];
        e.prev_hash = prev;
        e.hash = entry_hash(e.seq, &e.at, &e.actor, &e.kind, e.application_id.as_deref(), &e.payload, &e.prev_hash);
        sqlx::query("UPDATE audit_log SET payload = ?, prev_hash = ?, hash = ? WHERE seq = ?")
            .bind(&e.payload)
            .bind(&e.prev_hash)
            .bind(&e.hash)
            .bind(e.seq)
            .execute(pool)
            .await
            .unwrap();
    }
    entries
}
