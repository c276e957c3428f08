//! Many applicants at once, and the service killed in the middle of them: every answer is 2xx or a
//! polite 429, never a 5xx; whatever was acknowledged survives `kill -9`; the audit log verifies.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use onewindow::domain::user::Role;
use onewindow::load::{self, Acknowledged, Package};
use rand::Rng as _;

use crate::helpers::{add_user, onewindow_exe, repo, spawn_app};

fn package() -> Package {
    Package::from_fixture(&repo().join("fixtures/drainage-permit/clean-catering-stsong")).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_concurrent_applicants_get_2xx_or_429_and_never_5xx() {
    let app = spawn_app().await;
    let mut tokens = Vec::new();
    for _ in 0..200 {
        tokens.push(add_user(&app.state, Role::Applicant).await);
    }
    let address = app.address.trim_start_matches("http://").to_string();
    let report = load::run(&address, &tokens, &package()).await;
    eprint!("{}", report.render());
    assert_eq!(report.errors(), 0, "no 5xx and no request left unanswered");
    for attempt in &report.attempts {
        let status = attempt.status.unwrap();
        assert!((200..300).contains(&status) || status == 429, "{attempt:?}");
    }
    let created = report.acknowledged.iter().filter(|a| a.application_id.is_some()).count();
    assert_eq!(created, 200, "creating a draft is never refused under load");
    // Every submission the service took is a submitted (or already decided) case, with its files.
    for (ack, token) in report.acknowledged.iter().zip(&tokens) {
        check_kept(&address, token, ack).await;
    }
}

/// What was acknowledged to one applicant is there: the application, every uploaded document, and
/// the submission (no longer a draft).
async fn check_kept(address: &str, token: &str, ack: &Acknowledged) {
    let Some(id) = &ack.application_id else { return };
    let (status, application) = load::request(address, "GET", &format!("/api/v1/applications/{id}"), token, &[], b"").await.unwrap();
    assert_eq!(status, 200, "application {id} acknowledged and lost: {application}");
    let stored: Vec<i64> = application["documents"].as_array().unwrap().iter().filter_map(|d| d["id"].as_i64()).collect();
    for document in &ack.documents {
        assert!(stored.contains(document), "document {document} of {id} acknowledged and lost: {stored:?}");
    }
    if ack.submitted {
        assert_ne!(application["state"], "draft", "submission of {id} acknowledged and lost");
    }
}

pub(crate) struct Server {
    pub(crate) child: Child,
    pub(crate) address: String,
}

/// A test that fails leaves no service running behind it.
impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub(crate) fn free_address() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().to_string()
}

async fn start_server(data_dir: &std::path::Path, address: &str) -> Server {
    start_server_with(data_dir, address, &[]).await
}

/// `onewindow serve` with one worker on `data_dir` and `address`, and `extra` arguments, once it
/// answers `/health`.
pub(crate) async fn start_server_with(data_dir: &std::path::Path, address: &str, extra: &[&str]) -> Server {
    let server = Server {
        child: Command::new(onewindow_exe())
            .args(["serve", "--listen", address, "--workers", "1", "--data-dir"])
            .arg(data_dir)
            .args(extra)
            .current_dir(repo())
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
        address: address.to_string(),
    };
    let mut server = server;
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        // A service that exited (its port taken by another process, say) is not waited for: the
        // answers on this port would not be its own.
        assert!(server.child.try_wait().unwrap().is_none(), "the service exited at start");
        if let Ok((200, _)) = load::request(address, "GET", "/health", "", &[], b"").await {
            return server;
        }
        // Dropping the server on the way out stops the process.
        assert!(Instant::now() < deadline, "the service did not start");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_five_times_during_load_the_service_loses_nothing_it_acknowledged_and_its_log_verifies() {
    let temp = tempfile::tempdir().unwrap();
    let data_dir = temp.path().join("data");
    let rounds = 5;
    let per_round = 12;
    let tokens = load::make_applicants(&data_dir, None, rounds * per_round).await.unwrap();
    let package = package();
    let address = free_address();
    let mut server = start_server(&data_dir, &address).await;
    let mut acknowledged: Vec<(Acknowledged, String)> = Vec::new();
    let mut rng = rand::rng();
    for round in 0..rounds {
        let mine = tokens[round * per_round..(round + 1) * per_round].to_vec();
        let (run_address, package, run_tokens) = (server.address.clone(), package.clone(), mine.clone());
        let run = tokio::spawn(async move { load::run(&run_address, &run_tokens, &package).await });
        // Somewhere in the run: while drafts are made, files stored, jobs queued or decided.
        tokio::time::sleep(Duration::from_millis(rng.random_range(50..1500))).await;
        server.child.kill().unwrap();
        server.child.wait().unwrap();
        drop(server);
        let report = run.await.unwrap();
        acknowledged.extend(report.acknowledged.into_iter().zip(mine));
        server = start_server(&data_dir, &address).await;
        for (ack, token) in &acknowledged {
            check_kept(&server.address, token, ack).await;
        }
    }
    let submitted: Vec<&(Acknowledged, String)> = acknowledged.iter().filter(|(a, _)| a.submitted).collect();
    let created = acknowledged.iter().filter(|(a, _)| a.application_id.is_some()).count();
    eprintln!("{created} applications acknowledged, {} submissions, over {rounds} kills", submitted.len());
    // The kills fell among acknowledged work, or the test has checked nothing.
    assert!(created >= rounds && !submitted.is_empty(), "{created} created, {} submitted", submitted.len());
    // Every acknowledged submission is decided in the end: no job was lost with its process.
    let deadline = Instant::now() + Duration::from_secs(300);
    for (ack, token) in &submitted {
        let id = ack.application_id.as_ref().unwrap();
        loop {
            let (_, application) =
                load::request(&server.address, "GET", &format!("/api/v1/applications/{id}"), token, &[], b"").await.unwrap();
            if application["state"] != "submitted" {
                break;
            }
            assert!(Instant::now() < deadline, "{id} never decided");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    drop(server);
    let verify = Command::new(onewindow_exe()).args(["audit", "verify", "--data-dir"]).arg(&data_dir).output().unwrap();
    assert!(verify.status.success(), "{}", String::from_utf8_lossy(&verify.stderr));
    assert!(String::from_utf8_lossy(&verify.stdout).starts_with("audit log verified"));
}

/// SIGTERM, as service managers send it, stops the service cleanly: it exits 0, its last appends
/// are covered by a signed checkpoint, and its log verifies. Liveness and readiness answer apart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_stops_the_service_cleanly_with_its_log_signed_to_the_end() {
    let temp = tempfile::tempdir().unwrap();
    let data_dir = temp.path().join("data");
    load::make_applicants(&data_dir, None, 1).await.unwrap();
    let address = free_address();
    let mut server = start_server(&data_dir, &address).await;
    let (live, body) = load::request(&address, "GET", "/health/live", "", &[], b"").await.unwrap();
    assert_eq!((live, body["status"].as_str()), (200, Some("live")), "{body}");
    let (ready, body) = load::request(&address, "GET", "/health/ready", "", &[], b"").await.unwrap();
    assert_eq!((ready, body["status"].as_str()), (200, Some("ready")), "{body}");
    let killed = Command::new("kill").args(["-TERM", &server.child.id().to_string()]).status().unwrap();
    assert!(killed.success());
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(status) = server.child.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < deadline, "the service did not stop on SIGTERM");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(status.success(), "{status:?}");
    let verify = Command::new(onewindow_exe()).args(["audit", "verify", "--data-dir"]).arg(&data_dir).output().unwrap();
    let said = String::from_utf8_lossy(&verify.stdout).to_string() + &String::from_utf8_lossy(&verify.stderr);
    assert!(verify.status.success() && said.contains("every entry is covered by a signed checkpoint"), "{said}");
}
