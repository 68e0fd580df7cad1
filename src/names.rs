//! Creating, checking and deleting Service Fabric names.

use reqwest::StatusCode;

use crate::{Client, Result, client::finish, generated::types, wire};

impl Client {
    /// Creates `name` (`fabric:/samples/x` or `samples/x`); missing parents are created too.
    /// An existing name fails with `FABRIC_E_NAME_ALREADY_EXISTS` (409).
    pub async fn create_name(&self, name: &str) -> Result<()> {
        let full = format!("fabric:/{}", wire::name_id(name)?);
        let raw = self.raw();
        let answer = raw
            .create_name()
            .api_version(types::CreateNameApiVersion::default())
            .body(types::NameDescription {
                name: types::FabricName(full),
            })
            .timeout(self.timeout())
            .send()
            .await;
        finish(answer, &raw).await.map(drop)
    }

    /// Whether `name` exists. The gateway answers a missing name with a bodiless 404.
    pub async fn name_exists(&self, name: &str) -> Result<bool> {
        let name_id = wire::name_id(name)?;
        let raw = self.raw();
        let answer = raw
            .get_name_exists_info()
            .api_version(types::GetNameExistsInfoApiVersion::default())
            .name_id(name_id)
            .timeout(self.timeout())
            .send()
            .await;
        match finish(answer, &raw).await {
            Ok(_) => Ok(true),
            Err(e) if e.status() == Some(StatusCode::NOT_FOUND) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Deletes `name`. A name with children fails with `FABRIC_E_NAME_NOT_EMPTY` (409).
    pub async fn delete_name(&self, name: &str) -> Result<()> {
        let name_id = wire::name_id(name)?;
        let raw = self.raw();
        let answer = raw
            .delete_name()
            .api_version(types::DeleteNameApiVersion::default())
            .name_id(name_id)
            .timeout(self.timeout())
            .send()
            .await;
        finish(answer, &raw).await.map(drop)
    }
}
