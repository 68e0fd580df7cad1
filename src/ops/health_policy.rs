//! How an upgrade judges the application healthy (`ApplicationHealthPolicy`); left out, the
//! manifest's policy applies.

use crate::generated::types;

/// Percentages of unhealthy services, partitions per service and replicas per partition
/// tolerated, as the publish profile's `DefaultServiceTypeHealthPolicy="services,partitions,replicas"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ServiceTypeHealthPolicy {
    /// Unhealthy services tolerated, in percent.
    pub max_percent_unhealthy_services: u8,
    /// Unhealthy partitions tolerated per service, in percent.
    pub max_percent_unhealthy_partitions_per_service: u8,
    /// Unhealthy replicas tolerated per partition, in percent.
    pub max_percent_unhealthy_replicas_per_partition: u8,
}

/// The application health policy an upgrade evaluates with.
///
/// ```
/// use servicefabric_rest::{HealthPolicy, ServiceTypeHealthPolicy};
///
/// let policy = HealthPolicy {
///     consider_warning_as_error: true,
///     default_service_type: Some(ServiceTypeHealthPolicy { max_percent_unhealthy_services: 10, ..Default::default() }),
///     ..HealthPolicy::default()
/// };
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct HealthPolicy {
    /// Treat warnings as errors.
    pub consider_warning_as_error: bool,
    /// Unhealthy deployed applications tolerated, in percent.
    pub max_percent_unhealthy_deployed_applications: u8,
    /// The policy for every service type without one of its own.
    pub default_service_type: Option<ServiceTypeHealthPolicy>,
    /// Policies by service type name.
    pub service_types: Vec<(String, ServiceTypeHealthPolicy)>,
}

fn service_type_to_wire(p: &ServiceTypeHealthPolicy) -> types::ServiceTypeHealthPolicy {
    types::ServiceTypeHealthPolicy {
        max_percent_unhealthy_partitions_per_service: Some(i32::from(
            p.max_percent_unhealthy_partitions_per_service,
        )),
        max_percent_unhealthy_replicas_per_partition: Some(i32::from(
            p.max_percent_unhealthy_replicas_per_partition,
        )),
        max_percent_unhealthy_services: Some(i32::from(p.max_percent_unhealthy_services)),
    }
}

impl HealthPolicy {
    pub(crate) fn to_wire(&self) -> types::ApplicationHealthPolicy {
        types::ApplicationHealthPolicy {
            consider_warning_as_error: Some(self.consider_warning_as_error),
            default_service_type_health_policy: self
                .default_service_type
                .as_ref()
                .map(service_type_to_wire),
            max_percent_unhealthy_deployed_applications: Some(i32::from(
                self.max_percent_unhealthy_deployed_applications,
            )),
            service_type_health_policy_map: self
                .service_types
                .iter()
                .map(|(key, value)| types::ServiceTypeHealthPolicyMapItem {
                    key: key.clone(),
                    value: service_type_to_wire(value),
                })
                .collect(),
        }
    }
}
