module kesgate/tls-oracle

go 1.22
