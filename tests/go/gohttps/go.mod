module apitop.test/gohttps

go 1.17
