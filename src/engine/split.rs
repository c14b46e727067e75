//! One big transfer shared by several workers.
//!
//! A worker that starts a big file from a server that accepts ranges opens it
//! for sharing. A worker with nothing else to do takes the second half of the
//! largest byte range still to come (the first half stays with whoever had
//! it), asks the server for just that range, and writes it in place with
//! positioned writes into the same `.part` file. Splitting happens only when
//! a worker is idle, so a batch of many files never pays for it; a lone huge
//! file gets every worker of the pool. Ranges are checked with `If-Range`, so
//! every byte comes from the same version of the file, or the file fails and
//! is downloaded again from zero.

use std::fs::File;
use std::io::{self, Read};
use std::os::unix::fs::FileExt;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender, bounded, unbounded};
use ureq::http::{Response, header};
use ureq::{Body, ResponseExt};

use crate::config::SplitPolicy;
use crate::engine::hosts::{Hosts, Slot, host_key};
use crate::engine::job::FetchError;
use crate::engine::part::{Meta, PartFiles};
use crate::engine::ranges::Ranges;
use crate::engine::transport::{ContentRange, Transport, status_error};
use crate::naming::PART_SUFFIX;

/// A range is cut for an idle worker only if it would take longer than this
/// at its own pace: a new request (connect, slow start) costs time too, and a
/// fast transfer near its end gains nothing from company.
const MIN_TAIL: Duration = Duration::from_millis(200);
/// How long a range must have run before its pace is trusted.
const PACE_WINDOW: Duration = Duration::from_millis(100);
/// How often a shared part's sidecar is brought up to date while ranges are
/// written: what a SIGKILL can cost a later `-c`.
const SAVE_EVERY: Duration = Duration::from_millis(500);

/// How many workers are free to help with a shared file, and the line on
/// which to ask the pool for more. The pool keeps the counts; a shared
/// download reads them and sends a number, so nothing here calls the pool.
#[derive(Debug)]
pub struct Crew {
    threads: usize,
    /// Workers running a job or a range.
    busy: AtomicUsize,
    /// Jobs queued for a worker: they will claim workers soon, so those are not spare.
    queued: AtomicUsize,
    calls: Sender<usize>,
}

impl Crew {
    /// A crew of up to `threads`, and the pool's end of the line on which
    /// shared downloads ask for that many more workers.
    pub fn new(threads: usize) -> (Crew, Receiver<usize>) {
        let (calls, answered) = unbounded();
        let crew = Crew {
            threads,
            busy: AtomicUsize::new(0),
            queued: AtomicUsize::new(0),
            calls,
        };
        (crew, answered)
    }

    /// Counts a worker as busy until the guard is dropped.
    pub fn busy(&self) -> Busy<'_> {
        self.busy.fetch_add(1, Ordering::SeqCst);
        Busy(self)
    }

    pub fn job_queued(&self) {
        self.queued.fetch_add(1, Ordering::SeqCst);
    }

    pub fn job_taken(&self) {
        self.queued.fetch_sub(1, Ordering::SeqCst);
    }

    /// Workers that are idle or not started yet, and not claimed by a queued job.
    fn spare(&self) -> usize {
        let claimed = self.busy.load(Ordering::SeqCst) + self.queued.load(Ordering::SeqCst);
        self.threads.saturating_sub(claimed)
    }

    /// Asks the pool to start up to `helpers` more workers, as it has room.
    fn call(&self, helpers: usize) {
        if helpers > 0 {
            let _ = self.calls.send(helpers);
        }
    }
}

/// A worker counted as busy; see `Crew::busy`.
pub struct Busy<'c>(&'c Crew);

impl Drop for Busy<'_> {
    fn drop(&mut self) {
        self.0.busy.fetch_sub(1, Ordering::SeqCst);
    }
}

/// A part file about to be shared, before it is cut into ranges.
pub struct Opening {
    /// Where the redirects led: ranges are asked of it directly.
    pub url: String,
    /// Sent as `If-Range`: a range from any other version of the file is refused.
    pub validator: String,
    pub length: u64,
    pub file: File,
    pub files: PartFiles,
    /// The sidecar to keep up to date as ranges are written.
    pub meta: Meta,
    /// Ranges already on disk (from an earlier run).
    pub done: Ranges,
}

/// The `.part` file several workers write into.
pub struct SharedFile {
    url: String,
    /// The host its job counts against (`--max-per-host`): the one listed,
    /// wherever redirects led, so the owner and its helpers count as one.
    counted_as: String,
    /// Sent as `If-Range`: a range from any other version of the file is refused.
    validator: String,
    length: u64,
    file: File,
    files: PartFiles,
    /// Bytes on disk, this run's and an earlier run's.
    written: AtomicU64,
    /// Which ranges those are, and the sidecar that tells a later run.
    record: Mutex<Record>,
    failed: AtomicBool,
    failure: Mutex<Option<FetchError>>,
    /// Pieces not yet finished; the owner waits for zero.
    active: Mutex<usize>,
    /// The worker threads that moved this file's bytes (a few at most).
    workers: Mutex<Vec<std::thread::ThreadId>>,
    all_done: Condvar,
}

/// The ranges of a shared part that are on disk, and when the sidecar last
/// said so.
struct Record {
    done: Ranges,
    meta: Meta,
    saved: Instant,
}

impl SharedFile {
    fn written(&self) -> u64 {
        self.written.load(Ordering::SeqCst)
    }

    /// Counts `offset..offset + length` as on disk: called only after the
    /// write returned, so the sidecar never claims a byte the part lacks.
    fn wrote(&self, offset: u64, length: u64) {
        self.written.fetch_add(length, Ordering::SeqCst);
        let mut record = self.record.lock().unwrap_or_else(PoisonError::into_inner);
        record.done.add(offset, offset + length);
        if record.saved.elapsed() >= SAVE_EVERY {
            self.save(&mut record);
        }
    }

    /// Writes the sidecar with the ranges on disk now. A sidecar that cannot
    /// be written only claims less than the part holds: never more.
    fn save(&self, record: &mut Record) {
        record.meta.done = Some(record.done.clone());
        let _ = self.files.replace_meta(&record.meta);
        record.saved = Instant::now();
    }

    fn save_now(&self) {
        let mut record = self.record.lock().unwrap_or_else(PoisonError::into_inner);
        self.save(&mut record);
    }

    /// Counts the calling thread among the file's workers.
    fn joined_by_this_thread(&self) {
        let mut workers = self.workers.lock().unwrap_or_else(PoisonError::into_inner);
        let me = std::thread::current().id();
        if !workers.contains(&me) {
            workers.push(me);
        }
    }

    fn fail(&self, error: FetchError) {
        self.failed.store(true, Ordering::SeqCst);
        self.failure
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get_or_insert(error);
    }

    fn take_failure(&self) -> Option<FetchError> {
        self.failure
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
    }

    fn piece_finished(&self) {
        let mut active = self.active.lock().unwrap_or_else(PoisonError::into_inner);
        *active -= 1;
        if *active == 0 {
            self.all_done.notify_all();
        }
    }

    fn wait_for_pieces(&self) {
        let mut active = self.active.lock().unwrap_or_else(PoisonError::into_inner);
        while *active > 0 {
            active = self
                .all_done
                .wait(active)
                .unwrap_or_else(PoisonError::into_inner);
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Span {
    next: u64,
    end: u64,
    /// When the first bytes were claimed, and where: the range's own pace.
    since: Option<(Instant, u64)>,
}

impl Span {
    fn new(next: u64, end: u64) -> Span {
        Span {
            next,
            end,
            since: None,
        }
    }

    /// Whether cutting this range can still pay for a new request: it would
    /// take at least `MIN_TAIL` more at its own pace. A range too young to
    /// have a pace counts as worth it.
    fn worth_cutting(&self) -> bool {
        let Some((since, from)) = self.since else {
            return true;
        };
        let elapsed = since.elapsed();
        if elapsed < PACE_WINDOW || self.next == from {
            return true;
        }
        let pace = (self.next - from) as f64 / elapsed.as_secs_f64();
        (self.end - self.next) as f64 / pace > MIN_TAIL.as_secs_f64()
    }
}

/// One byte range of a shared file, downloaded by one worker.
pub struct Piece {
    file: Arc<SharedFile>,
    span: Mutex<Span>,
    /// A worker is downloading it (or has it reserved).
    taken: AtomicBool,
    /// The host slot a helper took for it (`--max-per-host`); the owner's
    /// ranges run on its job's slot.
    slot: Mutex<Option<Slot>>,
}

impl Piece {
    fn remaining(&self) -> u64 {
        let span = self.span.lock().unwrap_or_else(PoisonError::into_inner);
        span.end - span.next
    }

    /// Reserves up to `n` bytes at the current position. Fewer (or none) when
    /// another worker took the tail of this range meanwhile.
    fn claim(&self, n: u64) -> (u64, u64) {
        let mut span = self.span.lock().unwrap_or_else(PoisonError::into_inner);
        if span.since.is_none() {
            span.since = Some((Instant::now(), span.next));
        }
        let allowed = n.min(span.end - span.next);
        let offset = span.next;
        span.next += allowed;
        (offset, allowed)
    }

    pub fn bounds(&self) -> (u64, u64) {
        let span = self.span.lock().unwrap_or_else(PoisonError::into_inner);
        (span.next, span.end)
    }
}

/// Every shared transfer of one pool run.
pub struct Transfers {
    policy: SplitPolicy,
    crew: Crew,
    hosts: Hosts,
    open: Mutex<Vec<Arc<Piece>>>,
    offer_tx: Sender<()>,
    offer_rx: Receiver<()>,
}

impl Transfers {
    pub fn new(policy: SplitPolicy, crew: Crew, hosts: Hosts) -> Transfers {
        let (offer_tx, offer_rx) = bounded(64);
        Transfers {
            policy,
            crew,
            hosts,
            open: Mutex::new(Vec::new()),
            offer_tx,
            offer_rx,
        }
    }

    pub fn policy(&self) -> SplitPolicy {
        self.policy
    }

    pub fn crew(&self) -> &Crew {
        &self.crew
    }

    /// Wakes idle workers when there may be a range to take.
    pub fn offers(&self) -> &Receiver<()> {
        &self.offer_rx
    }

    /// Opens a file for sharing as the ranges `bounds`: the caller streams
    /// the first, the others wait for idle workers unless `offer` is false,
    /// when the caller takes them all in turn.
    fn share(&self, opening: Opening, bounds: &[(u64, u64)], offer: bool) -> Vec<Arc<Piece>> {
        let file = Arc::new(SharedFile {
            counted_as: host_key(&opening.meta.url),
            url: opening.url,
            validator: opening.validator,
            length: opening.length,
            file: opening.file,
            files: opening.files,
            written: AtomicU64::new(opening.done.total()),
            record: Mutex::new(Record {
                done: opening.done,
                meta: opening.meta,
                saved: Instant::now(),
            }),
            failed: AtomicBool::new(false),
            failure: Mutex::new(None),
            active: Mutex::new(bounds.len()),
            workers: Mutex::new(Vec::new()),
            all_done: Condvar::new(),
        });
        // Before any byte: a part that is resumable from the start.
        file.save_now();
        let pieces: Vec<Arc<Piece>> = bounds
            .iter()
            .enumerate()
            .map(|(i, &(start, end))| {
                Arc::new(Piece {
                    file: file.clone(),
                    span: Mutex::new(Span::new(start, end)),
                    taken: AtomicBool::new(i == 0 || !offer),
                    slot: Mutex::new(None),
                })
            })
            .collect();
        if offer {
            self.open
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .extend(pieces.iter().cloned());
            for _ in 0..self.policy.max_pieces {
                let _ = self.offer_tx.try_send(());
            }
        }
        pieces
    }

    fn can_split(&self, piece: &Piece) -> bool {
        piece.taken.load(Ordering::SeqCst)
            && !piece.file.failed.load(Ordering::SeqCst)
            && piece.remaining() >= self.policy.min_piece.saturating_mul(2)
            && piece
                .span
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .worth_cutting()
            && *piece
                .file
                .active
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                < self.policy.max_pieces
    }

    /// Whether an idle worker could take a range now, its host's limit allowing.
    pub fn has_offer(&self) -> bool {
        let urls: Vec<String> = self
            .open
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .filter(|p| !p.taken.load(Ordering::SeqCst) || self.can_split(p))
            .map(|p| p.file.counted_as.clone())
            .collect();
        // Asked with the pieces' lock let go: locks are never held two at once.
        urls.iter().any(|host| self.hosts.has_room_for(host))
    }

    /// For an idle worker: a range, with a slot of its host for it.
    pub fn take_offer(&self) -> Option<Arc<Piece>> {
        let mut hosts: Vec<String> = self
            .open
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .map(|p| p.file.counted_as.clone())
            .collect();
        hosts.dedup();
        for host in hosts {
            let Some(slot) = self.hosts.try_take_key(host.clone()) else {
                continue;
            };
            match self.take_where(|piece| piece.file.counted_as == host) {
                Some(piece) => {
                    *piece.slot.lock().unwrap_or_else(PoisonError::into_inner) = Some(slot);
                    return Some(piece);
                }
                None => self.hosts.give_back(slot),
            }
        }
        None
    }

    /// Like `take_offer`, within one file, for its owner (on its job's slot).
    pub fn take_offer_from(&self, file: &Arc<SharedFile>) -> Option<Arc<Piece>> {
        self.take_where(|piece| Arc::ptr_eq(&piece.file, file))
    }

    pub fn hosts(&self) -> &Hosts {
        &self.hosts
    }

    /// A range nobody has started comes first; otherwise the tail half of the
    /// largest range under way.
    fn take_where(&self, wanted: impl Fn(&Piece) -> bool) -> Option<Arc<Piece>> {
        let mut open = self.open.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(waiting) = open
            .iter()
            .find(|p| wanted(p) && !p.taken.load(Ordering::SeqCst))
        {
            waiting.taken.store(true, Ordering::SeqCst);
            return Some(waiting.clone());
        }
        let victim = open
            .iter()
            .filter(|p| wanted(p) && self.can_split(p))
            .max_by_key(|p| p.remaining())?
            .clone();
        let tail = {
            let mut span = victim.span.lock().unwrap_or_else(PoisonError::into_inner);
            let middle = span.next + (span.end - span.next) / 2;
            let tail = Span::new(middle, span.end);
            span.end = middle;
            tail
        };
        *victim
            .file
            .active
            .lock()
            .unwrap_or_else(PoisonError::into_inner) += 1;
        let piece = Arc::new(Piece {
            file: victim.file.clone(),
            span: Mutex::new(tail),
            taken: AtomicBool::new(true),
            slot: Mutex::new(None),
        });
        open.push(piece.clone());
        Some(piece)
    }

    /// Ends one piece. The caller reports errors through the file.
    pub fn close(&self, piece: &Arc<Piece>, result: Result<(), FetchError>) {
        self.open
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .retain(|p| !Arc::ptr_eq(p, piece));
        if let Some(slot) = piece
            .slot
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
        {
            self.hosts.give_back(slot);
        }
        if let Err(error) = result {
            piece.file.fail(error);
        }
        piece.file.piece_finished();
        // Room for one more piece: wake an idle worker to look.
        let _ = self.offer_tx.try_send(());
    }
}

/// A worker's hands for shared files: its transport and buffer, and the
/// run's transfers.
pub struct Sharer<'w, 'a> {
    pub transport: &'w mut Transport<'a>,
    pub buffer: &'w mut [u8],
    pub transfers: &'w Transfers,
}

impl Sharer<'_, '_> {
    /// Shares a big file whose whole-file `response` has arrived: this worker
    /// streams it while idle workers take ranges of it; then it helps with
    /// what is left and waits for the last piece. Returns the bytes of the
    /// complete part and how many workers moved them; the caller verifies
    /// and publishes it.
    pub fn download(
        &mut self,
        response: Response<Body>,
        part: PartOnDisk,
    ) -> Result<(u64, usize), FetchError> {
        let length = response.body().content_length().unwrap_or_default();
        part.file
            .set_len(length)
            .map_err(|e| FetchError::local("allocate", &part.files.part_path(), e))?;
        let ways = self
            .transfers
            .policy
            .ways(length, self.transfers.crew.spare() + 1);
        let bounds = equal_cuts(length, ways);
        let opening = part.opening(&response, length, Ranges::new());
        self.share(response, opening, &bounds, true)
    }

    /// Continues a shared part left by an earlier run: `done` is on disk, and
    /// `response` is the 206 for the first range missing. The missing ranges
    /// are shared as a fresh download's are (unless `--split 1`).
    pub fn fill(
        &mut self,
        response: Response<Body>,
        part: PartOnDisk,
        length: u64,
        done: Ranges,
    ) -> Result<(u64, usize), FetchError> {
        let gaps = done.missing(length);
        let offer = self.transfers.policy.max_pieces > 1;
        let opening = part.opening(&response, length, done);
        self.share(response, opening, &gaps, offer)
    }

    /// Streams the first range from `response`, has the rest taken by idle
    /// workers (or takes them itself), and waits for the last.
    fn share(
        &mut self,
        response: Response<Body>,
        opening: Opening,
        bounds: &[(u64, u64)],
        offer: bool,
    ) -> Result<(u64, usize), FetchError> {
        let length = opening.length;
        let mut pieces = self.transfers.share(opening, bounds, offer).into_iter();
        let first = pieces.next().expect("a shared file has a range");
        if offer {
            self.transfers.crew.call(bounds.len() - 1);
        }
        let shared = first.file.clone();
        self.show(&first);
        {
            let mut closing = Closing::new(self.transfers, first);
            let mut body = response.into_body().into_reader();
            let mut result = self.pump(&closing.piece, &mut body);
            drop(body);
            if result.as_ref().is_err_and(FetchError::is_transient) && !self.transport.cancelled() {
                result = self.fetch_piece(&closing.piece);
            }
            closing.result = Some(result);
        }
        loop {
            let piece = match offer {
                true => self.transfers.take_offer_from(&shared),
                false => pieces.next(),
            };
            let Some(piece) = piece else { break };
            self.run_piece(piece);
        }
        shared.wait_for_pieces();
        if let Some(error) = shared.take_failure() {
            // What is on disk stays claimed, for a retry or a later `-c`.
            shared.save_now();
            return Err(error);
        }
        if shared.written() != length {
            shared.save_now();
            return Err(FetchError::Incomplete(format!(
                "{} of {length} bytes were written",
                shared.written()
            )));
        }
        let workers = shared
            .workers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len();
        Ok((length, workers))
    }

    /// Downloads one piece by range request, retrying it on its own, then closes it.
    pub fn run_piece(&mut self, piece: Arc<Piece>) {
        self.show(&piece);
        let mut closing = Closing::new(self.transfers, piece);
        closing.result = Some(self.fetch_piece(&closing.piece));
    }

    fn show(&self, piece: &Piece) {
        piece.file.joined_by_this_thread();
        let part = piece.file.files.part_name();
        self.transport
            .lane()
            .start_range(|| file_name(part), piece.bounds());
    }

    fn fetch_piece(&mut self, piece: &Piece) -> Result<(), FetchError> {
        let mut failures = 0;
        loop {
            // The file already failed: its error is recorded, and more requests would be wasted.
            if piece.file.failed.load(Ordering::SeqCst) {
                return Ok(());
            }
            let error = match self
                .request_range(piece)
                .and_then(|mut body| self.pump(piece, &mut body))
            {
                Ok(()) => return Ok(()),
                Err(error) => error,
            };
            // Another version of the file is not fixed by asking again for a range:
            // the whole download starts over instead (see `fetch`).
            if matches!(error, FetchError::Changed(_)) && !self.transport.cancelled() {
                return Err(error);
            }
            failures += 1;
            self.transport.wait_to_retry(error, failures)?;
        }
    }

    fn request_range(&mut self, piece: &Piece) -> Result<Box<dyn Read + Send>, FetchError> {
        let file = &piece.file;
        let (next, end) = piece.bounds();
        if next >= end {
            return Ok(Box::new(io::empty()));
        }
        let request = self
            .transport
            .get(&file.url)
            .header(header::RANGE, format!("bytes={next}-{}", end - 1))
            .header(header::IF_RANGE, file.validator.as_str());
        let response = self.transport.send(request)?;
        let status = response.status().as_u16();
        if !response.status().is_success() {
            return Err(status_error(&response));
        }
        let range = ContentRange::from_headers(response.headers());
        let expected = ContentRange {
            first: next,
            last: end - 1,
            total: Some(file.length),
        };
        if status != 206 || range != Some(expected) {
            // A 200 here means the file changed under us (If-Range failed): never mix versions.
            return Err(FetchError::Changed(format!(
                "asked for bytes {next}-{} of {}, got HTTP {status} with {}",
                end - 1,
                file.length,
                range.map_or("no usable Content-Range".into(), |r| r.to_string())
            )));
        }
        Ok(Box::new(response.into_body().into_reader()))
    }

    /// Streams a piece's bytes into place until its (possibly shrinking)
    /// range is done. Bytes that arrived before a failure are written too, so
    /// a retry asks only for the rest.
    fn pump(&mut self, piece: &Piece, body: &mut impl Read) -> Result<(), FetchError> {
        let file = &piece.file;
        let asked_to = piece.bounds().1;
        let mut end = asked_to;
        loop {
            let want = piece.remaining().min(self.buffer.len() as u64) as usize;
            if want == 0 && end == asked_to {
                // The body is read whole: one more read sees its end, which is
                // what hands the connection back to the pool for the next range.
                let _ = body.read(&mut self.buffer[..1]);
                return Ok(());
            }
            if want == 0 || file.failed.load(Ordering::SeqCst) {
                return Ok(());
            }
            let (got, ended) = self.transport.fill(body, &mut self.buffer[..want]);
            let (offset, allowed) = piece.claim(got as u64);
            let now_ends = piece.bounds().1;
            if now_ends != end {
                end = now_ends;
                self.transport.lane().shrink(end);
            }
            if allowed > 0 {
                file.file
                    .write_all_at(&self.buffer[..allowed as usize], offset)
                    .map_err(|e| FetchError::local("write", &file.files.part_path(), e))?;
                file.wrote(offset, allowed);
            }
            if allowed < got as u64 {
                return Ok(());
            }
            if ended? && piece.remaining() > 0 {
                let (next, end) = piece.bounds();
                return Err(FetchError::Truncated {
                    received: next,
                    expected: end,
                });
            }
        }
    }
}

/// A part opened by the fetch, with the sidecar it is to keep, before it is shared.
pub struct PartOnDisk {
    pub file: File,
    pub files: PartFiles,
    pub meta: Meta,
}

impl PartOnDisk {
    fn opening(self, response: &Response<Body>, length: u64, done: Ranges) -> Opening {
        Opening {
            // Ranges go where the redirects led, so they are not redirected anew.
            url: response.get_uri().to_string(),
            validator: self.meta.validator().unwrap_or_default().to_string(),
            length,
            file: self.file,
            files: self.files,
            meta: self.meta,
            done,
        }
    }
}

/// `0..length` cut into `ways` ranges of equal size.
fn equal_cuts(length: u64, ways: usize) -> Vec<(u64, u64)> {
    let ways = ways.max(1) as u64;
    // u128: a length near u64::MAX from a hostile server must not overflow.
    let bound = |i: u64| (u128::from(i) * u128::from(length) / u128::from(ways)) as u64;
    (0..ways).map(|i| (bound(i), bound(i + 1))).collect()
}

/// The final name of a part, for the display.
fn file_name(part: &str) -> String {
    part.strip_suffix(PART_SUFFIX).unwrap_or(part).to_string()
}

/// Closes a piece when dropped, even if the worker panicked on the way, so the
/// owner waiting for the file's last piece is never left waiting forever.
struct Closing<'t> {
    transfers: &'t Transfers,
    piece: Arc<Piece>,
    result: Option<Result<(), FetchError>>,
}

impl<'t> Closing<'t> {
    fn new(transfers: &'t Transfers, piece: Arc<Piece>) -> Self {
        Closing {
            transfers,
            piece,
            result: None,
        }
    }
}

impl Drop for Closing<'_> {
    fn drop(&mut self) {
        let result = self.result.take().unwrap_or_else(|| {
            Err(FetchError::Incomplete(
                "a worker stopped in the middle of a range".into(),
            ))
        });
        self.transfers.close(&self.piece, result);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opening(dir: &tempfile::TempDir, length: u64) -> Opening {
        let files = PartFiles::new(&crate::engine::outdir::Dir::open(dir.path()).unwrap(), "x");
        Opening {
            url: "http://h/x".into(),
            validator: "\"v1\"".into(),
            length,
            file: File::create(files.part_path()).unwrap(),
            meta: Meta {
                url: "http://h/x".into(),
                etag: Some("\"v1\"".into()),
                length: Some(length),
                ..Meta::default()
            },
            files,
            done: Ranges::new(),
        }
    }

    fn policy(min_piece: u64, max_pieces: usize) -> Transfers {
        let (crew, _) = Crew::new(max_pieces);
        Transfers::new(
            SplitPolicy {
                max_pieces,
                min_piece,
            },
            crew,
            Hosts::new(None),
        )
    }

    fn transfers(min_piece: u64, max_pieces: usize) -> (Transfers, Arc<Piece>, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let transfers = policy(min_piece, max_pieces);
        let first = transfers.share(opening(&dir, 1000), &[(0, 1000)], true);
        (transfers, first[0].clone(), dir)
    }

    #[test]
    fn idle_workers_take_the_tail_half_of_the_largest_range() {
        let (transfers, first, _dir) = transfers(100, 8);
        let second = transfers.take_offer().unwrap();
        assert_eq!((first.bounds(), second.bounds()), ((0, 500), (500, 1000)));
        let third = transfers.take_offer().unwrap();
        assert_eq!(third.bounds().1 - third.bounds().0, 250);
        // 250-byte ranges are still cuttable at min 100; 150-byte ones are not.
        first.claim(100);
        assert!(transfers.take_offer().is_some());
    }

    #[test]
    fn ranges_are_never_cut_below_the_minimum_or_past_the_piece_limit() {
        let (transfers, _first, _dir) = transfers(300, 8);
        assert!(transfers.take_offer().is_some()); // 1000 -> 500 + 500
        assert!(transfers.take_offer().is_none(), "500 < 2 x 300");
        let (transfers, _first, _dir) = self::transfers(10, 2);
        assert!(transfers.take_offer().is_some());
        assert!(transfers.take_offer().is_none(), "two pieces at most");
    }

    #[test]
    fn a_claim_stops_where_the_tail_was_taken() {
        let (transfers, first, _dir) = transfers(100, 8);
        assert_eq!(first.claim(300), (0, 300));
        let tail = transfers.take_offer().unwrap();
        assert_eq!(tail.bounds(), (650, 1000));
        assert_eq!(first.claim(500), (300, 350));
        assert_eq!(first.claim(10), (650, 0));
    }

    #[test]
    fn the_owner_waits_until_every_piece_is_closed() {
        let (transfers, first, _dir) = transfers(100, 8);
        let second = transfers.take_offer().unwrap();
        transfers.close(&first, Ok(()));
        assert_eq!(*first.file.active.lock().unwrap(), 1);
        transfers.close(&second, Err(FetchError::Cancelled));
        first.file.wait_for_pieces();
        assert!(matches!(
            first.file.take_failure(),
            Some(FetchError::Cancelled)
        ));
        assert!(!transfers.has_offer());
    }

    #[test]
    fn only_ranges_with_time_left_at_their_pace_are_worth_cutting() {
        let a_second_ago = Instant::now().checked_sub(Duration::from_secs(1)).unwrap();
        let young = Span::new(0, 1000);
        assert!(young.worth_cutting(), "no pace yet");
        // 1000 bytes in a second: 100 more take 0.1 s, 9000 more take 9 s (the bar is 0.2 s).
        let nearly_done = Span {
            next: 1000,
            end: 1100,
            since: Some((a_second_ago, 0)),
        };
        let far_from_done = Span {
            next: 1000,
            end: 10_000,
            since: Some((a_second_ago, 0)),
        };
        assert!(!nearly_done.worth_cutting());
        assert!(far_from_done.worth_cutting());
    }

    #[test]
    fn spare_workers_are_those_neither_busy_nor_claimed_by_a_queued_job() {
        let (crew, calls) = Crew::new(4);
        let busy = crew.busy();
        crew.job_queued();
        assert_eq!(crew.spare(), 2);
        crew.job_taken();
        drop(busy);
        assert_eq!(crew.spare(), 4);
        crew.call(0);
        crew.call(3);
        assert_eq!(
            calls.try_iter().collect::<Vec<_>>(),
            [3],
            "no call for no helper"
        );
    }

    #[test]
    fn spare_workers_get_equal_ranges_up_front() {
        let dir = tempfile::tempdir().unwrap();
        let transfers = policy(100, 4);
        let ways = transfers.policy.ways(1000, 9);
        let pieces = transfers.share(opening(&dir, 1000), &equal_cuts(1000, ways), true);
        let first = &pieces[0];
        assert_eq!(first.bounds(), (0, 250), "at most max_pieces ways");
        assert!(transfers.has_offer(), "ranges nobody started are on offer");
        let rest: Vec<(u64, u64)> = (0..3)
            .map(|_| transfers.take_offer().unwrap().bounds())
            .collect();
        assert_eq!(rest, [(250, 500), (500, 750), (750, 1000)]);
        // Now every range is under way; the next offer cuts the largest one.
        assert!(transfers.take_offer().is_none(), "four pieces at most");
        assert_eq!(*first.file.active.lock().unwrap(), 4);
    }

    #[test]
    fn a_shared_part_records_only_what_was_written() {
        let dir = tempfile::tempdir().unwrap();
        let transfers = policy(100, 4);
        let pieces = transfers.share(opening(&dir, 1000), &equal_cuts(1000, 2), true);
        let file = &pieces[0].file;
        let sidecar = || file.files.read_meta().unwrap().done.unwrap();
        assert_eq!(
            sidecar(),
            Ranges::new(),
            "a sidecar from the start, claiming nothing"
        );
        // A range claimed but not yet written is not on record.
        let (offset, length) = pieces[1].claim(300);
        assert_eq!(sidecar(), Ranges::new());
        file.wrote(offset, length);
        file.save_now();
        assert_eq!(sidecar().to_string(), "500-800");
        assert_eq!(file.written(), 300);
    }

    #[test]
    fn a_resumed_part_is_shared_as_its_gaps_and_counts_what_it_had() {
        let dir = tempfile::tempdir().unwrap();
        let transfers = policy(100, 4);
        let mut opening = opening(&dir, 1000);
        opening.done = Ranges::parse("0-400,600-700").unwrap();
        let gaps = opening.done.missing(1000);
        let pieces = transfers.share(opening, &gaps, true);
        let bounds: Vec<(u64, u64)> = pieces.iter().map(|p| p.bounds()).collect();
        assert_eq!(bounds, [(400, 600), (700, 1000)]);
        assert_eq!(pieces[0].file.written(), 500);
    }
}
