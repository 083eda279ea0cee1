module kesgate/minio-env-oracle

go 1.21
