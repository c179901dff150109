//! The audit's collection in one account: every user (ListUsers, pages streamed into
//! bounded per-user work), each user's keys, and for users with two or more active
//! keys their last use and tags; or, with the credential report, its candidates
//! confirmed live. With `--rotation`, also the tags of users whose one active key is
//! over the maximum age, and for those that ask for the hand-off their keys' last use
//! and the binding (`binding`). Read-only.

use super::binding::{Asking, Lookup, binding_of};
use crate::aws::Clients;
use crate::aws::iam::{self, UserTags, caller, last_use, list_keys, list_user_tags, user_tags};
use crate::bounded;
use crate::error::{Error, Result};
use crate::facts::{Inventory, KeyFacts, UserFacts, has_multiple_active_keys};
use crate::plan::Source;
use crate::rule;

use crate::aws::credential_report;

/// What to inventory, and how hard to push.
#[derive(Debug, Clone)]
pub(crate) struct Scope {
    /// Only these users (all users when empty).
    pub users: Vec<String>,
    pub source: Source,
    /// Calls in flight at once, and users in progress.
    pub concurrency: crate::aws::concurrency::Concurrency,
    /// Advanced once per user looked at (hidden unless stderr is a terminal).
    pub progress: crate::progress::SharedProgress,
}

/// What examining one user found.
enum Examined {
    /// At most one active key, and no hand-off asked for: nothing to decide. Under
    /// `--rotation` the user's tags may have been read to know.
    Compliant { tags_read: bool },
    /// Two or more active keys, or a hand-off asked for: every fact read.
    Candidate(UserFacts),
    /// IAM refused a read about the user: the facts read before it, the refusal, and
    /// whether the tags were read before the keys' last use (`--rotation`'s order for
    /// a user with one key).
    Refused {
        facts: UserFacts,
        error: Error,
        tags_first: bool,
    },
}

/// A user's keys, and for users with two or more active keys also each key's last use
/// and the exemption tag; with `rotation`, the same for a user whose one active key is
/// over the maximum age and whose `keytrim:rotate-to` tag asks for the hand-off, and
/// the binding. A refusal from IAM about the user (`Error::is_refusal`) makes the user
/// unreadable; any other error stops the audit.
async fn user_facts(
    clients: &Clients,
    name: String,
    arn: String,
    rotation: Option<&Lookup>,
) -> Result<Examined> {
    let refused = |keys: Vec<KeyFacts>, error: Error, tags_first: bool| {
        if !error.is_refusal() {
            return Err(error);
        }
        let facts = UserFacts {
            user_name: name.clone(),
            user_arn: arn.clone(),
            keys,
            exempt_tag: None,
            exempt_until: None,
            unreadable: Some(error.to_string()),
            rotation: None,
        };
        Ok(Examined::Refused {
            facts,
            error,
            tags_first,
        })
    };
    let mut keys = match list_keys(clients, &name).await {
        Ok(keys) => keys,
        Err(error) => return refused(Vec::new(), error, false),
    };
    let multiple = has_multiple_active_keys(&keys);
    // Under --rotation a user whose one active key is over the maximum age may ask for
    // the hand-off: only its tags say, so they are read first.
    let lone_due = rotation
        .is_some_and(|lookup| rule::lone_key_due(&keys, &lookup.policy, lookup.now).is_some());
    // Nothing else in the tags of a user that does not ask is read: a malformed
    // exemption date there must not stop the audit of a compliant user.
    let early_tags = if lone_due {
        let tags = match list_user_tags(clients, &name).await {
            Ok(tags) => tags,
            Err(error) => return refused(keys, error, true),
        };
        if !UserTags::asks_for_rotation(&tags) {
            return Ok(Examined::Compliant { tags_read: true });
        }
        Some(UserTags::read(&name, tags)?)
    } else if multiple {
        None
    } else {
        return Ok(Examined::Compliant { tags_read: false });
    };
    let tags_first = early_tags.is_some();
    for index in 0..keys.len() {
        match last_use(clients, &keys[index].access_key_id).await {
            Ok(used) => keys[index].last_use = Some(used),
            Err(error) => return refused(keys, error, tags_first),
        }
    }
    let tags = match early_tags {
        Some(tags) => tags,
        None => match user_tags(clients, &name).await {
            Ok(tags) => tags,
            Err(error) => return refused(keys, error, false),
        },
    };
    for key in &mut keys {
        key.description = tags.description_of(&key.access_key_id);
    }
    let binding = match (rotation, tags.rotate_to.as_deref()) {
        (Some(lookup), Some(tag)) => {
            let asking = Asking {
                user_name: &name,
                user_arn: &arn,
                keys: &keys,
                tag,
            };
            Some(binding_of(clients, lookup, &asking).await?)
        }
        _ => None,
    };
    Ok(Examined::Candidate(UserFacts {
        user_name: name,
        user_arn: arn,
        keys,
        exempt_tag: tags.reason,
        exempt_until: tags.until,
        unreadable: None,
        rotation: binding,
    }))
}

/// What looking at every user found: how many were looked at, all their names, and
/// the facts of those that need a decision.
struct Gathered {
    names: Vec<String>,
    candidates: Vec<UserFacts>,
}

/// Look at the users as they arrive on `users`, with at most `concurrency` calls in
/// flight; keep those that need a decision. The first error stops the rest.
async fn gather(
    clients: &Clients,
    users: tokio::sync::mpsc::Receiver<Result<(String, String)>>,
    concurrency: crate::aws::concurrency::Concurrency,
    progress: &crate::progress::SharedProgress,
    rotation: Option<Lookup>,
) -> Result<Gathered> {
    let (clients, tick) = (clients.clone(), progress.clone());
    let rotation = std::sync::Arc::new(rotation);
    // More users in progress than calls may be in flight (the account's gate holds
    // the calls to `concurrency`): a user backing off leaves its place to another.
    let in_progress = concurrency.users_in_progress();
    let facts = bounded::try_map_received(users, in_progress, move |(name, arn)| {
        let (clients, tick, rotation) = (clients.clone(), tick.clone(), rotation.clone());
        async move {
            let facts = user_facts(&clients, name.clone(), arn, rotation.as_ref().as_ref()).await;
            tick.advance();
            facts.map(|facts| (name, facts))
        }
    })
    .await;
    progress.finish();
    let mut names = Vec::new();
    let mut candidates = Vec::new();
    let mut refusals = Vec::new();
    // The reads, in the order a user's are made, and how many users got past each.
    let steps = [
        "iam:ListAccessKeys",
        "iam:GetAccessKeyLastUsed",
        "iam:ListUserTags",
    ];
    let mut passed = [0usize; 3];
    for (name, examined) in facts? {
        names.push(name);
        // The reads the user got past, in the order they were made.
        let got_past: Vec<usize> = match examined {
            Examined::Compliant { tags_read } => {
                if tags_read {
                    vec![0, 2]
                } else {
                    vec![0]
                }
            }
            Examined::Candidate(facts) => {
                candidates.push(facts);
                vec![0, 1, 2]
            }
            Examined::Refused {
                facts,
                error,
                tags_first,
            } => {
                candidates.push(facts);
                let step = steps
                    .iter()
                    .position(|step| error.action() == Some(*step))
                    .unwrap_or(0);
                refusals.push((step, error));
                let order: [usize; 3] = if tags_first { [0, 2, 1] } else { [0, 1, 2] };
                order.into_iter().take_while(|read| *read != step).collect()
            }
        };
        for step in got_past {
            passed[step] += 1;
        }
    }
    // A read IAM refused for two users or more and allowed for none is the audit
    // role's own lack (no iam:ListAccessKeys at all, say): an error of the audit, not
    // a finding about each user. One refusal alone is a finding: one protected user.
    for (step, _) in steps.iter().enumerate() {
        let refused = refusals.iter().filter(|(at, _)| *at == step).count();
        if refused >= 2 && passed[step] == 0 {
            let (_, error) = refusals.swap_remove(
                refusals
                    .iter()
                    .position(|(at, _)| *at == step)
                    .expect("counted above"),
            );
            return Err(error);
        }
    }
    candidates.sort_by(|a, b| a.user_name.cmp(&b.user_name));
    Ok(Gathered { names, candidates })
}

/// A channel that already holds `users`, for sources that know them all up front; the
/// progress bar's total is theirs.
fn all_at_once(
    users: Vec<(String, String)>,
    progress: &crate::progress::SharedProgress,
) -> tokio::sync::mpsc::Receiver<Result<(String, String)>> {
    progress.set_total(users.len() as u64);
    let (sender, receiver) = tokio::sync::mpsc::channel(users.len().max(1));
    for user in users {
        sender
            .try_send(Ok(user))
            .expect("the channel holds every user");
    }
    receiver
}

/// Keep only the users named with `--user`; every named user must exist.
fn restrict(
    users: Vec<(String, String)>,
    wanted: &[String],
    account_id: &str,
) -> Result<Vec<(String, String)>> {
    if wanted.is_empty() {
        return Ok(users);
    }
    for name in wanted {
        if !users.iter().any(|(user, _)| user == name) {
            return Err(Error::NoSuchUser {
                user: name.clone(),
                account_id: account_id.to_string(),
            });
        }
    }
    Ok(users
        .into_iter()
        .filter(|(user, _)| wanted.contains(user))
        .collect())
}

/// The inventory through the credential report: users it shows with two active keys
/// (and under `--rotation`, with an active key over the maximum age), confirmed live;
/// every other user the report lists is counted as scanned.
async fn from_credential_report(
    clients: &Clients,
    scope: &Scope,
    caller: crate::facts::Caller,
    rotation: Option<Lookup>,
) -> Result<Inventory> {
    let rows = credential_report::rows(&credential_report::fetch(clients).await?)?;
    let users = restrict(
        rows.iter()
            .map(|row| (row.user.clone(), row.arn.clone()))
            .collect(),
        &scope.users,
        &caller.account_id,
    )?;
    // Under --rotation a user with an active key over the maximum age may ask for the
    // hand-off. A key's creation time does not change as the report ages; a key
    // switched on since the report is missed, as every change since it is.
    let cutoff = rotation.as_ref().map(|lookup| {
        lookup.now - chrono::Duration::days(i64::from(lookup.policy.max_key_age_days))
    });
    let to_examine: std::collections::HashSet<&str> = rows
        .iter()
        .filter(|row| {
            row.has_two_active_keys()
                || cutoff.is_some_and(|cutoff| row.has_an_active_key_created_by(cutoff))
        })
        .map(|row| row.user.as_str())
        .collect();
    let (candidates, others): (Vec<_>, Vec<_>) = users
        .into_iter()
        .partition(|(user, _)| to_examine.contains(user.as_str()));
    tracing::info!(
        users = candidates.len() + others.len(),
        examined = candidates.len(),
        "listing access keys"
    );
    let gathered = gather(
        clients,
        all_at_once(candidates, &scope.progress),
        scope.concurrency,
        &scope.progress,
        rotation,
    )
    .await?;
    let mut scanned_names = gathered.names;
    scanned_names.extend(others.into_iter().map(|(name, _)| name));
    Ok(Inventory {
        caller,
        users_scanned: scanned_names.len(),
        scanned_names,
        candidates: gathered.candidates,
    })
}

/// Take the inventory of the caller's account, as of `now` under `policy` (under
/// `--rotation`, its maximum age says which users' tags are read).
pub(crate) async fn account(
    clients: &Clients,
    scope: &Scope,
    policy: &rule::Policy,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<Inventory> {
    let caller = caller(clients).await?;
    let rotation = policy.rotation.then(|| Lookup {
        policy: *policy,
        now,
        account_id: caller.account_id.clone(),
        region: clients.region(),
    });
    let to_examine = match scope.source {
        // Every user: pages are examined as they come.
        Source::Live if scope.users.is_empty() => {
            let (sender, receiver) = tokio::sync::mpsc::channel(iam::USERS_PER_PAGE as usize);
            // The bar's total grows page by page.
            scope.progress.set_total(0);
            tokio::spawn(iam::send_users(
                clients.clone(),
                sender,
                scope.progress.clone(),
            ));
            receiver
        }
        Source::Live => all_at_once(
            restrict(
                iam::list_users(clients).await?,
                &scope.users,
                &caller.account_id,
            )?,
            &scope.progress,
        ),
        Source::CredentialReport => {
            return from_credential_report(clients, scope, caller, rotation).await;
        }
    };
    let gathered = gather(
        clients,
        to_examine,
        scope.concurrency,
        &scope.progress,
        rotation,
    )
    .await?;
    tracing::info!(users = gathered.names.len(), "listed access keys");
    Ok(Inventory {
        caller,
        users_scanned: gathered.names.len(),
        scanned_names: gathered.names,
        candidates: gathered.candidates,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn restrict_refuses_an_unknown_user() {
        let users = vec![("alice".to_string(), "arn:a".to_string())];
        let err = restrict(users, &["mallory".to_string()], "123456789012").unwrap_err();
        assert_eq!(
            err.to_string(),
            "IAM user `mallory` (from --user) does not exist in account 123456789012"
        );
    }
}
