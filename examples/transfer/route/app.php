<?php
// route/app.php (add to your own)
use think\facade\Route;

Route::post('transfer', 'Transfer/create');
// dq-gateway's subscription "transfer-credit" POSTs the credit messages here (gateway-subscription.toml).
Route::post('dq/credit', 'Credit/receive');
