module kesgate/minio-url-oracle

go 1.21
