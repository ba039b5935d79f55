module github.com/kizuna/kizuna/services/segmentation

go 1.25.0
