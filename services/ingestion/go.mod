module github.com/kizuna/kizuna/services/ingestion

go 1.25.0
