//! Organizations on the local server: the management account's client, its root, OUs,
//! and member accounts, for the tests that audit or apply across an Organization.

use aws_sdk_iam::config::Credentials;

use super::LocalIam;

impl LocalIam {
    /// An Organizations client of the management account.
    pub(crate) fn organizations(&self) -> aws_sdk_organizations::Client {
        aws_sdk_organizations::Client::from_conf(
            aws_sdk_organizations::Config::builder()
                .behavior_version(aws_sdk_organizations::config::BehaviorVersion::latest())
                .region(aws_sdk_organizations::config::Region::new("us-east-1"))
                .endpoint_url(&self.endpoint)
                .credentials_provider(Credentials::new("testing", "testing", None, None, "tests"))
                .build(),
        )
    }

    /// The Organization's root id (after `create_member_account` made it).
    pub(crate) fn organization_root(&self) -> String {
        let roots = self
            .block_on(self.organizations().list_roots().send())
            .expect("ListRoots");
        roots.roots()[0].id().expect("root id").to_string()
    }

    /// Create an organizational unit under `parent` (a root or an OU); its id.
    pub(crate) fn create_unit(&self, parent: &str, name: &str) -> String {
        let created = self
            .block_on(
                self.organizations()
                    .create_organizational_unit()
                    .parent_id(parent)
                    .name(name)
                    .send(),
            )
            .expect("CreateOrganizationalUnit");
        created
            .organizational_unit()
            .and_then(|unit| unit.id())
            .expect("the new OU's id")
            .to_string()
    }

    /// Move an account from the root into `unit`.
    pub(crate) fn move_to_unit(&self, account: &str, unit: &str) {
        let root = self.organization_root();
        self.block_on(
            self.organizations()
                .move_account()
                .account_id(account)
                .source_parent_id(root)
                .destination_parent_id(unit)
                .send(),
        )
        .expect("MoveAccount");
    }

    /// Make the default account an Organization's management account and add a member
    /// account; returns the member's id.
    pub(crate) fn create_member_account(&self, name: &str) -> String {
        let organizations = self.organizations();
        // The first call makes the organization; later ones find it there already.
        let _ = self.block_on(
            organizations
                .create_organization()
                .feature_set(aws_sdk_organizations::types::OrganizationFeatureSet::All)
                .send(),
        );
        let created = self
            .block_on(
                organizations
                    .create_account()
                    .email(format!("{name}@example.com"))
                    .account_name(name)
                    .send(),
            )
            .expect("CreateAccount");
        created
            .create_account_status()
            .and_then(|status| status.account_id())
            .expect("the new account's id")
            .to_string()
    }
}
