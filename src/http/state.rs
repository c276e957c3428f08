//! The state every handler shares: the use cases, and what only the HTTP edge needs (the public
//! address certificates point to, the certificate font, what replay needs, whether the service is
//! ready).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use crate::issuance::certificate::CertificateFont;
use crate::issuance::verification::VerificationKey;
use crate::usecases::audit::ReplayKit;
use crate::usecases::UseCases;

struct Shared {
    usecases: UseCases,
    public_url: String,
    certificate_font: CertificateFont,
    verification: VerificationKey,
    /// What the auditors' replay needs (the models and limits the service runs with).
    replay: ReplayKit,
    /// Set once the workers run and the listener is about to serve.
    ready: AtomicBool,
    started: AtomicBool,
    stopping: AtomicBool,
    /// Signs the audit log's checkpoints.
    signer: crate::audit::checkpoint::LogSigner,
    /// Where the lines of recently drawn images stand (the review page's boxes).
    placed: crate::web::boxes::PlacedCache,
}

/// Shared by every handler. Cheap to clone.
#[derive(Clone)]
pub struct AppState(Arc<Shared>);

impl AppState {
    pub fn new(
        usecases: UseCases,
        public_url: String,
        certificate_font: CertificateFont,
        verification: VerificationKey,
        replay: ReplayKit,
        signer: crate::audit::checkpoint::LogSigner,
    ) -> Self {
        Self(Arc::new(Shared {
            usecases,
            public_url,
            certificate_font,
            verification,
            replay,
            ready: AtomicBool::new(false),
            started: AtomicBool::new(false),
            stopping: AtomicBool::new(false),
            placed: Default::default(),
            signer,
        }))
    }

    pub fn signer(&self) -> &crate::audit::checkpoint::LogSigner {
        &self.0.signer
    }

    pub fn placed_cache(&self) -> &crate::web::boxes::PlacedCache {
        &self.0.placed
    }

    pub fn replay_kit(&self) -> &ReplayKit {
        &self.0.replay
    }

    /// The key of the verification codes printed on certificates.
    pub fn verification(&self) -> &VerificationKey {
        &self.0.verification
    }

    pub fn usecases(&self) -> &UseCases {
        &self.0.usecases
    }

    pub fn public_url(&self) -> &str {
        &self.0.public_url
    }

    pub fn certificate_font(&self) -> &CertificateFont {
        &self.0.certificate_font
    }

    pub fn is_ready(&self) -> bool {
        self.0.ready.load(Ordering::Acquire)
    }

    pub fn set_ready(&self) {
        self.0.ready.store(true, Ordering::Release);
        self.0.started.store(true, Ordering::Release);
    }

    /// Shutting down: not ready any more (load balancers stop sending), though still serving what
    /// is in flight.
    pub fn set_stopping(&self) {
        self.0.stopping.store(true, Ordering::Release);
        self.0.ready.store(false, Ordering::Release);
    }

    pub fn is_stopping(&self) -> bool {
        self.0.stopping.load(Ordering::Acquire)
    }

    /// Whether it was ready once (so that not ready now is a fault, not a start).
    pub fn was_ready(&self) -> bool {
        self.0.started.load(Ordering::Acquire)
    }
}
