//! A display's own thread: it paints a frame every period until told to
//! stop, then a last one. The bars and the plain status lines both run on it.

use std::thread::JoinHandle;
use std::time::Duration;

use crossbeam_channel::{Receiver, Sender, bounded};

/// A display's own thread: a frame now and then, and a last one.
pub trait Painter: Send + 'static {
    fn period(&self) -> Duration;
    fn frame(&mut self);
    fn last(&mut self);
}

pub fn start(mut painter: impl Painter) -> (Sender<()>, JoinHandle<()>) {
    let (stop, stopped): (Sender<()>, Receiver<()>) = bounded(0);
    let thread = std::thread::Builder::new()
        .name("tget-progress".into())
        .spawn(move || {
            // Ends when `finish` drops the sender.
            while stopped
                .recv_timeout(painter.period())
                .is_err_and(|e| e.is_timeout())
            {
                painter.frame();
            }
            painter.last();
        })
        .expect("the OS refused to start the progress thread");
    (stop, thread)
}
