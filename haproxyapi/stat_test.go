package haproxyapi

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// Captured from haproxy 2.6.12 (`show stat be_web 4 -1`), one session on n2.
const statOut = `# pxname,svname,qcur,qmax,scur,smax,slim,stot,bin,bout,dreq,dresp,ereq,econ,eresp,wretr,wredis,status,weight,act,bck,chkfail,chkdown,lastchg,downtime,qlimit,pid,iid,sid,throttle,lbtot,tracked,type,rate,rate_lim,rate_max,check_status,check_code,check_duration,hrsp_1xx,hrsp_2xx,hrsp_3xx,hrsp_4xx,hrsp_5xx,hrsp_other,hanafail,req_rate,req_rate_max,req_tot,cli_abrt,srv_abrt,comp_in,comp_out,comp_byp,comp_rsp,lastsess,last_chk,last_agt,qtime,ctime,rtime,ttime,agent_status,agent_code,agent_duration,check_desc,agent_desc,check_rise,check_fall,check_health,agent_rise,agent_fall,agent_health,addr,cookie,mode,algo,conn_rate,conn_rate_max,conn_tot,intercepted,dcon,dses,wrew,connect,reuse,cache_lookups,cache_hits,srv_icur,src_ilim,qtime_max,ctime_max,rtime_max,ttime_max,eint,idle_conn_cur,safe_conn_cur,used_conn_cur,need_conn_est,uweight,agg_server_status,agg_server_check_status,agg_check_status,-,ssl_sess,ssl_reused_sess,ssl_failed_handshake,h2_headers_rcvd,h2_data_rcvd,h2_settings_rcvd,h2_rst_stream_rcvd,h2_goaway_rcvd,h2_detected_conn_protocol_errors,h2_detected_strm_protocol_errors,h2_rst_stream_resp,h2_goaway_resp,h2_open_connections,h2_backend_open_streams,h2_total_connections,h2_backend_total_streams,h1_open_connections,h1_open_streams,h1_total_connections,h1_total_streams,h1_bytes_in,h1_bytes_out,h1_spliced_bytes_in,h1_spliced_bytes_out,
be_web,n1,0,0,0,0,,0,0,0,,0,,0,0,0,0,DOWN,1,1,0,1,1,0,0,,1,3,1,,0,,2,0,,0,L4CON,,10,0,0,0,0,0,0,,,,0,0,0,,,,,-1,Connection refused,,0,0,0,0,,,,Layer4 connection problem,,1,2,0,,,,127.33.200.10:8080,,http,,,,,,,,0,0,0,,,0,,0,0,0,0,0,0,0,0,1,1,,,,-,0,0,0,,,,,,,,,,,,,,,,,,,,,,
be_web,n2,2,2,1,1,,7,0,0,,0,,0,0,0,0,DRAIN,1,1,0,1,1,0,0,,1,3,2,,0,,2,0,,0,L7OK,200,1,0,0,0,0,0,0,,,,0,0,0,,,,,-1,,,0,0,0,0,,,,Layer7 check passed,,1,2,2,,,,127.33.200.11:8080,,http,,,,,,,,0,0,0,,,0,,0,0,0,0,0,0,0,0,1,1,,,,-,0,0,0,,,,,,,,,,,,,,,,,,,,,,
be_web,BACKEND,0,0,1,1,100,7,0,0,0,0,,0,0,0,0,UP,1,1,0,,0,10,0,,1,3,0,,0,,1,0,,0,,,,0,0,0,0,0,0,,,,0,0,0,0,0,0,0,-1,,,0,0,0,0,,,,,,,,,,,,,,http,roundrobin,,,,,,,0,0,0,0,0,,,0,0,0,0,0,,,,,,,,,,,,,,,,,,,,,,,,,,,,,
`

func TestParseStat(t *testing.T) {
	rows, err := ParseStat(statOut)
	require.NoError(t, err)
	require.Equal(t, []StatRow{
		{Proxy: "be_web", Server: "n1", Status: "DOWN"},
		{Proxy: "be_web", Server: "n2", QCur: 2, SCur: 1, STot: 7, Status: "DRAIN"},
	}, rows)
	require.Equal(t, 3, rows[1].Sessions())
}

func TestParseStatErrors(t *testing.T) {
	for name, tc := range map[string]struct{ in, want string }{
		"no header":      {"be_web,n1,0\n", "no CSV header"},
		"missing column": {"# pxname,svname\n", "column qcur missing"},
		"short line":     {"# pxname,svname,qcur,scur,stot,status\nbe_web,n1,0\n", "line 2 has 3 fields"},
		"not a number":   {"# pxname,svname,qcur,scur,stot,status\nbe_web,n1,0,x,0,UP\n", `scur "x"`},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := ParseStat(tc.in)
			require.ErrorContains(t, err, tc.want)
		})
	}
	require.True(t, strings.HasPrefix(statOut, "# pxname"))
}
