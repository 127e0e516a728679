// Mesh trust backed by Kubernetes: CA material in the system namespace's Secrets (`cacerts`, `istio-ca-secret`)
// and service-account tokens checked with TokenReview against the cluster a caller names.
