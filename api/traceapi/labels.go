package traceapi

// labels are the page's fixed words in one language: zh (the default) and enL.
type labels struct {
	Title, Lang, Site, Variety, Grade, Quantity, Base, County, Harvested, Certs, CertNo, NoCerts string
	Verdict, Band, MKT, InBand, Out, Excursions, Journey, Chart, Legend, Peak, Minutes           string
	Code, QR, Generated, About, Where                                                            string
	CertBasis, Record                                                                            string
	Inspection, Passed, Failed, Report                                                           string
}

var zh = labels{Title: "产品溯源", Lang: "zh-CN", Site: "穗龙 · 穗岩对口合作冷链溯源", Variety: "品种", Grade: "等级", Quantity: "批次重量",
	Base: "生产基地", County: "产地", Harvested: "采收日期", Certs: "认证", CertNo: "承诺达标合格证编号", NoCerts: "无",
	Verdict: "冷链结论", Band: "要求温度", MKT: "平均动力学温度 (MKT)", InBand: "达标时长占比", Out: "超标时长", Excursions: "温度超标记录",
	Journey: "运输与交接记录", Chart: "温度曲线", Legend: "浅蓝：允许温度范围；灰色带：最低–最高；线：平均；红色：超标",
	Peak: "峰值", Minutes: "分钟", Code: "批次码", QR: "二维码", Generated: "数据更新于",
	About: "温度数据由冷藏车与冷库的传感器自动采集，交接记录由基地与采购方登记。", Where: "位置",
	CertBasis: "合格证承诺依据", Record: "完整冷链记录（可打印）",
	Inspection: "农残检测", Passed: "合格", Failed: "不合格", Report: "报告"}

var enL = labels{Title: "Product traceability", Lang: "en", Site: "Suilong · Guangzhou–Longyan cold-chain trace", Variety: "Variety",
	Grade: "Grade", Quantity: "Lot weight", Base: "Produce base", County: "Origin", Harvested: "Harvested", Certs: "Certifications",
	CertNo: "Compliance certificate (承诺达标合格证) no.", NoCerts: "none", Verdict: "Cold-chain verdict", Band: "Required",
	MKT: "Mean kinetic temperature", InBand: "Time in band", Out: "Out of band", Excursions: "Temperature excursions",
	Journey: "Journey and hand-overs", Chart: "Temperature", Legend: "Blue: allowed range; grey: min–max; line: mean; red: excursion",
	Peak: "Peak", Minutes: "min", Code: "Lot code", QR: "QR code", Generated: "Data as of",
	About: "Temperatures are recorded automatically by sensors in the reefer trucks and cold stores; hand-overs are recorded by the base and the buyer.",
	Where: "Where", CertBasis: "Certificate basis", Record: "Full cold-chain record (printable)",
	Inspection: "Pesticide residue test (农残检测)", Passed: "passed", Failed: "failed", Report: "report"}
