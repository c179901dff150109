//! Secrets Manager on the local server, for the rotation hand-off's tests: secrets
//! created with a value and tags, and their AWSCURRENT version read back by name (moto
//! answers GetSecretValue without a stage with the first version, not AWSCURRENT).

use aws_sdk_iam::config::Credentials;

use super::LocalIam;

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
