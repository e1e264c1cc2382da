//! Retry with exponential backoff and full jitter, honouring a server's `Retry-After`,
//! bounded by attempts and by a deadline (the Lambda's remaining time).

use std::future::Future;
use std::time::{Duration, SystemTime};

use rand::{Rng, RngExt};
use tokio::time::Instant;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in all, the first included.
    pub max_attempts: u32,
    pub base_delay: Duration,
    /// Cap on the computed backoff (a server's `Retry-After` may ask for more).
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self { max_attempts: 5, base_delay: Duration::from_millis(200), max_delay: Duration::from_secs(20) }
    }
}

/// How an attempt failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure<E> {
    /// May succeed if tried again, after at least `retry_after` when the server said so.
    Transient { error: E, retry_after: Option<Duration> },
    /// Will not succeed if tried again.
    Permanent(E),
}

impl<E> Failure<E> {
    pub fn transient(error: E) -> Self {
        Failure::Transient { error, retry_after: None }
    }

    /// Transient (without a server's delay) or permanent, as `transient` says.
    pub fn classified(error: E, transient: bool) -> Self {
        if transient {
            Self::transient(error)
        } else {
            Failure::Permanent(error)
        }
    }
}

/// The last failure, and how many attempts were made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryError<E> {
    pub error: E,
    pub attempts: u32,
    /// True when the last failure was transient but attempts or time ran out.
    pub exhausted: bool,
}

impl RetryPolicy {
    /// The wait after failed attempt number `attempt` (1-based): uniform in
    /// `[0, min(max_delay, base_delay * 2^(attempt-1))]`, and never less than `retry_after`.
    pub fn delay(&self, attempt: u32, retry_after: Option<Duration>, rng: &mut impl Rng) -> Duration {
        let exponent = attempt.saturating_sub(1).min(31);
        let ceiling = self.base_delay.saturating_mul(1u32 << exponent).min(self.max_delay);
        let jittered = Duration::from_nanos(rng.random_range(0..=ceiling.as_nanos().min(u64::MAX as u128) as u64));
        jittered.max(retry_after.unwrap_or_default())
    }

    /// [`Self::delay`] with the thread's random numbers and no server hint: the wait between
    /// optimistic writes that lost a race, so racing writers fall out of step.
    pub fn random_delay(&self, attempt: u32) -> Duration {
        self.delay(attempt, None, &mut rand::rng())
    }

    /// Runs `operation` (given the 1-based attempt number) until it succeeds, fails
    /// permanently, runs out of attempts, or would have to wait past `deadline`.
    pub async fn run<T, E, F, Fut>(&self, deadline: Option<Instant>, mut operation: F) -> Result<T, RetryError<E>>
    where
        F: FnMut(u32) -> Fut,
        Fut: Future<Output = Result<T, Failure<E>>>,
    {
        let mut attempt = 1;
        loop {
            let (error, retry_after) = match operation(attempt).await {
                Ok(value) => return Ok(value),
                Err(Failure::Permanent(error)) => {
                    return Err(RetryError { error, attempts: attempt, exhausted: false })
                }
                Err(Failure::Transient { error, retry_after }) => (error, retry_after),
            };
            let wait = self.delay(attempt, retry_after, &mut rand::rng());
            let out_of_time = deadline.is_some_and(|d| Instant::now() + wait >= d);
            if attempt >= self.max_attempts || out_of_time {
                return Err(RetryError { error, attempts: attempt, exhausted: true });
            }
            tokio::time::sleep(wait).await;
            attempt += 1;
        }
    }
}

/// What a peer's refusal (an answer outside 2xx) says: when to ask again, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub status: u16,
    /// Its `Retry-After`, when it gave one.
    pub retry_after: Option<Duration>,
    /// The start of its body, lossily UTF-8.
    pub body: String,
}

impl Refusal {
    /// Reads `response`, and at most about `max_bytes` of its body: the peer chooses the body,
    /// and reading it whole held all of it in memory, or waited out the timeout on one that
    /// never ends.
    pub async fn read(mut response: reqwest::Response, max_bytes: usize) -> Self {
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| parse_retry_after(v, SystemTime::now()));
        let mut body = Vec::new();
        while body.len() < max_bytes {
            match response.chunk().await {
                Ok(Some(chunk)) => body.extend_from_slice(&chunk),
                Ok(None) | Err(_) => break,
            }
        }
        body.truncate(max_bytes);
        Refusal { status, retry_after, body: String::from_utf8_lossy(&body).into_owned() }
    }

    /// The body's first `chars` characters, for an error's detail.
    pub fn body_start(&self, chars: usize) -> String {
        self.body.chars().take(chars).collect()
    }
}

/// Reads a `Retry-After` header: delay-seconds or an HTTP date.
pub fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let date = chrono::DateTime::parse_from_rfc2822(value).ok()?;
    let at = SystemTime::from(date);
    Some(at.duration_since(now).unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};
    use std::sync::atomic::{AtomicU32, Ordering};

    use rand::rngs::StdRng;
    use rand::SeedableRng;

    use super::*;

    const POLICY: RetryPolicy =
        RetryPolicy { max_attempts: 4, base_delay: Duration::from_millis(100), max_delay: Duration::from_millis(250) };

    #[test]
    fn delays_are_jittered_below_a_capped_exponential_ceiling() {
        let mut rng = StdRng::seed_from_u64(7);
        for attempt in 1..=6 {
            let ceiling = Duration::from_millis(100 * (1 << (attempt - 1))).min(POLICY.max_delay);
            let delays: Vec<_> = (0..200).map(|_| POLICY.delay(attempt, None, &mut rng)).collect();
            assert!(delays.iter().all(|d| *d <= ceiling), "attempt {attempt} exceeded {ceiling:?}");
            // Full jitter spreads over the whole range, not just near the ceiling.
            assert!(delays.iter().any(|d| *d < ceiling / 4), "attempt {attempt} never waited briefly");
        }
    }

    #[test]
    fn retry_after_is_a_floor() {
        let mut rng = StdRng::seed_from_u64(1);
        let wait = POLICY.delay(1, Some(Duration::from_secs(3)), &mut rng);
        assert_eq!(wait, Duration::from_secs(3));
    }

    #[test]
    fn retry_after_reads_seconds_and_dates() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_445_412_470);
        assert_eq!(parse_retry_after("120", now), Some(Duration::from_secs(120)));
        // 1_445_412_480 is Wed, 21 Oct 2015 07:28:00 GMT.
        assert_eq!(parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now), Some(Duration::from_secs(10)));
        assert_eq!(parse_retry_after("soon", now), None);
    }

    #[tokio::test(start_paused = true)]
    async fn transient_failures_are_retried_until_success() {
        let calls = AtomicU32::new(0);
        let result = POLICY
            .run(None, |attempt| {
                calls.fetch_add(1, Ordering::SeqCst);
                async move {
                    if attempt < 3 {
                        Err(Failure::transient("503"))
                    } else {
                        Ok(attempt)
                    }
                }
            })
            .await;
        assert_eq!(result, Ok(3));
        assert_eq!(calls.load(Ordering::SeqCst), 3);
    }

    #[tokio::test(start_paused = true)]
    async fn permanent_failures_are_not_retried() {
        let result: Result<(), _> = POLICY.run(None, |_| async { Err(Failure::Permanent("400")) }).await;
        assert_eq!(result, Err(RetryError { error: "400", attempts: 1, exhausted: false }));
    }

    #[tokio::test(start_paused = true)]
    async fn attempts_are_bounded() {
        let result: Result<(), _> = POLICY.run(None, |_| async { Err(Failure::transient("503")) }).await;
        assert_eq!(result, Err(RetryError { error: "503", attempts: 4, exhausted: true }));
    }

    #[tokio::test(start_paused = true)]
    async fn no_wait_goes_past_the_deadline() {
        let deadline = Instant::now() + Duration::from_secs(5);
        let started = Instant::now();
        let result: Result<(), _> = POLICY
            .run(Some(deadline), |_| async {
                Err(Failure::Transient { error: "429", retry_after: Some(Duration::from_secs(60)) })
            })
            .await;
        assert_eq!(result.unwrap_err().attempts, 1);
        assert!(Instant::now() - started < Duration::from_secs(1));
    }

    /// A peer that answers 503 (`Retry-After: 7`) with a body that never ends.
    fn endless_refusal() -> String {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        std::thread::spawn(move || {
            let Ok((mut stream, _)) = listener.accept() else { return };
            let mut request = [0u8; 4096];
            let _ = stream.read(&mut request);
            let head = "HTTP/1.1 503 Service Unavailable\r\nretry-after: 7\r\ntransfer-encoding: chunked\r\n\r\n";
            let chunk = format!("1000\r\n{}\r\n", "x".repeat(0x1000));
            if stream.write_all(head.as_bytes()).is_ok() {
                while stream.write_all(chunk.as_bytes()).is_ok() {}
            }
        });
        url
    }

    #[tokio::test]
    async fn a_refusal_is_read_no_further_than_its_start() {
        let client = reqwest::Client::builder().timeout(Duration::from_secs(20)).build().unwrap();
        let response = client.post(endless_refusal()).body("{}").send().await.unwrap();
        let started = std::time::Instant::now();
        let refusal = Refusal::read(response, 1024).await;
        assert!(started.elapsed() < Duration::from_secs(10), "took {:?}", started.elapsed());
        assert_eq!((refusal.status, refusal.retry_after), (503, Some(Duration::from_secs(7))));
        assert_eq!(refusal.body, "x".repeat(1024));
        assert_eq!(refusal.body_start(300), "x".repeat(300));
    }
}
