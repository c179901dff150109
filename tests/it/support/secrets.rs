//! Secrets Manager on the local server, for the rotation hand-off's tests: secrets
//! created with a value and tags, and their AWSCURRENT version read back by name (moto
//! answers GetSecretValue without a stage with the first version, not AWSCURRENT).

use aws_sdk_iam::config::Credentials;

use super::{LocalIam, SeededKey};

impl LocalIam {
    /// A Secrets Manager client of the default account, in us-east-1.
    pub(crate) fn secrets(&self) -> aws_sdk_secretsmanager::Client {
        aws_sdk_secretsmanager::Client::from_conf(
            aws_sdk_secretsmanager::Config::builder()
                .behavior_version(aws_sdk_secretsmanager::config::BehaviorVersion::latest())
                .region(aws_sdk_secretsmanager::config::Region::new("us-east-1"))
                .endpoint_url(&self.endpoint)
                .credentials_provider(Credentials::new("testing", "testing", None, None, "tests"))
                .build(),
        )
    }

    /// Create a secret named `name` holding `value`, tagged with `tags`; its full ARN.
    pub(crate) fn create_secret(&self, name: &str, value: &str, tags: &[(&str, &str)]) -> String {
        let mut request = self
            .secrets()
            .create_secret()
            .name(name)
            .secret_string(value);
        for (key, tag_value) in tags {
            request = request.tags(
                aws_sdk_secretsmanager::types::Tag::builder()
                    .key(*key)
                    .value(*tag_value)
                    .build(),
            );
        }
        let created = self.block_on(request.send()).expect("CreateSecret");
        created.arn().expect("the secret's ARN").to_string()
    }

    /// Put a new value into the secret, which moves AWSCURRENT to it.
    pub(crate) fn put_secret_value(&self, arn: &str, value: &str) {
        self.block_on(
            self.secrets()
                .put_secret_value()
                .secret_id(arn)
                .secret_string(value)
                .send(),
        )
        .expect("PutSecretValue");
    }

    /// The version holding AWSCURRENT, and its value.
    pub(crate) fn current_secret(&self, arn: &str) -> (String, String) {
        let answer = self
            .block_on(
                self.secrets()
                    .get_secret_value()
                    .secret_id(arn)
                    .version_stage("AWSCURRENT")
                    .send(),
            )
            .expect("GetSecretValue");
        (
            answer.version_id().expect("a version").to_string(),
            answer.secret_string().expect("a string").to_string(),
        )
    }
}

impl LocalIam {
    /// The version holding `stage`, and its value, if a version holds it.
    pub(crate) fn secret_at(&self, arn: &str, stage: &str) -> Option<(String, String)> {
        let answer = self
            .block_on(
                self.secrets()
                    .get_secret_value()
                    .secret_id(arn)
                    .version_stage(stage)
                    .send(),
            )
            .ok()?;
        Some((
            answer.version_id()?.to_string(),
            answer.secret_string()?.to_string(),
        ))
    }

    /// Turn moto's authentication on: from now on every request must be signed by a
    /// key of one of its IAM users (`INITIAL_NO_AUTH_ACTION_COUNT` reset to 0), so that
    /// sts:GetCallerIdentity answers the key's own user, as AWS does. The answer is an
    /// administrator's key for keytrim to sign with. The server must be one of this
    /// test's own (`start_with_env`): the setting is the server's.
    pub(crate) fn turn_auth_on(&self) -> SeededKey {
        let admin = self.admin.get_or_init(|| self.create_admin()).clone();
        self.set_auth_count("0");
        admin
    }

    /// Turn moto's authentication on again, after `turn_auth_on` and `turn_auth_off`.
    pub(crate) fn turn_auth_on_again(&self) {
        self.set_auth_count("0");
    }

    /// An IAM user allowed everything, and a key of it.
    fn create_admin(&self) -> SeededKey {
        self.create_user("keytrim-admin");
        let policy = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}"#;
        self.block_on(
            self.iam()
                .put_user_policy()
                .user_name("keytrim-admin")
                .policy_name("everything")
                .policy_document(policy)
                .send(),
        )
        .expect("PutUserPolicy");
        self.create_key("keytrim-admin", 0)
    }

    /// Turn moto's authentication off again, for the test's own reads.
    pub(crate) fn turn_auth_off(&self) {
        self.set_auth_count("inf");
    }

    fn set_auth_count(&self, count: &str) {
        ureq::post(&format!("{}/moto-api/reset-auth", self.endpoint))
            .send(count)
            .expect("moto's reset-auth");
    }

    /// The ARN sts:GetCallerIdentity answers for `key` (authentication on: the key's
    /// user), or the error.
    pub(crate) fn caller_arn_of(&self, key_id: &str, secret: &str) -> Result<String, String> {
        let sts = aws_sdk_sts::Client::from_conf(
            aws_sdk_sts::Config::builder()
                .behavior_version(aws_sdk_sts::config::BehaviorVersion::latest())
                .region(aws_sdk_sts::config::Region::new("us-east-1"))
                .endpoint_url(&self.endpoint)
                .credentials_provider(Credentials::new(key_id, secret, None, None, "tests"))
                .build(),
        );
        self.block_on(sts.get_caller_identity().send())
            .map(|answer| answer.arn().unwrap_or_default().to_string())
            .map_err(|err| format!("{err:?}"))
    }
}
