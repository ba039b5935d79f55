module github.com/kizuna/kizuna/services/segmentation

go 1.26.0
