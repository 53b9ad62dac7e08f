//! A child process of a test, killed when its guard is dropped.
use std::process::Child;
use std::time::{Duration, Instant};

/// A child process killed when dropped.
pub struct Guard(pub Child);

impl Drop for Guard {
    /// SIGTERM first, so a server like nginx takes its worker processes down with it.
    fn drop(&mut self) {
        // SAFETY: plain kill(2) on our own child.
        unsafe { libc::kill(self.0.id() as i32, libc::SIGTERM) };
        let deadline = Instant::now() + Duration::from_secs(3);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.0.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Guard {
    pub fn pid(&self) -> u32 {
        self.0.id()
    }
}
